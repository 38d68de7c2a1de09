import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ENGINE, IMAGES, ROOT, TLS_DIR, tlsEndpoint, distinctAnswers, localInputs, objectsOf, removeDeployment, runAction, uniquePrefix } from './harness'

// The vic-lb command as a person and a script run it: the bundle with a command and flags, outside
// GitHub Actions; and the same command inside a workflow step, where it prints as the action does.

interface CliRun {
  code: number
  stdout: string
  stderr: string
}

// The environment of a shell on a developer's machine: no runner variables, no inputs.
function shellEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(INPUT_|DOCKER_|GITHUB_|RUNNER_)/.test(k) && k !== 'NO_COLOR'))
}

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/index.js'), ...args], { env: { ...shellEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })))
}

// `--name=value`, so that empty values and PEM pass as they are.
function flags(inputs: Record<string, string>): string[] {
  return Object.entries(inputs).map(([name, value]) => `--${name}=${value}`)
}

function explain(run: CliRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`
}

const STEPS = [
  'Connect to the Docker host',
  'Check the Docker host',
  'Pull images',
  'Start instances and load-balancer',
  'Wait until every instance serves through the load-balancer',
]
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const WORKFLOW_COMMAND = /^::[a-z-]+/m

// Offline, or for the local test images, the pull fails and the copy on the host is used: a warning.
function expectOnlyWarnings(stderr: string): void {
  for (const line of stderr.split('\n').filter(Boolean)) expect(line).toMatch(/^warning: /)
}

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

describe('vic-lb deploy run by a person', () => {
  const prefix = uniquePrefix('cli')
  created.push(prefix)
  let inputs: Record<string, string>

  it('prints each step with its elapsed time, warnings on stderr, and no workflow commands', async () => {
    // The engine under test named as the action's tests name it, so both print the same.
    inputs = await localInputs(prefix, { 'docker-host': ENGINE.dockerHost })
    const run = await runCli(['deploy', ...flags(inputs)])
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout + run.stderr).not.toMatch(WORKFLOW_COMMAND)
    expect(run.stdout + run.stderr).not.toContain('%0A')
    // Not a terminal: no colour.
    expect(run.stdout + run.stderr).not.toContain('\x1b[')
    for (const step of STEPS) expect(run.stdout).toMatch(new RegExp(`^▸ ${escape(step)}\\n(?:  .*\\n)*✓ ${escape(step)} \\(\\d+\\.\\ds\\)$`, 'm'))
    expect(run.stdout).toMatch(/^ {2}Started load-balancer e2e-cli-\w+-lb$/m)
    expect(run.stdout.trimEnd().split('\n').at(-1)).toMatch(/^Deployed: http:\/\/\S+ served by 3 instance\(s\)$/)
    expectOnlyWarnings(run.stderr)
  })

  it('with --output json prints the outputs as one JSON object on stdout, the log on stderr', async () => {
    const run = await runCli(['deploy', ...flags(inputs), '--output', 'json'])
    expect(run.code, explain(run)).toBe(0)
    const outputs = JSON.parse(run.stdout)
    expect(Object.keys(outputs).sort()).toEqual(['instances', 'ip', 'lb-container', 'port', 'url'])
    expect(outputs.port).toBe(Number(inputs['lb-port']))
    expect(outputs.url).toBe(`http://${outputs.ip}:${outputs.port}`)
    expect(outputs.instances).toHaveLength(3)
    expect(objectsOf(prefix)).toContain(outputs.instances[0])
    expect(new Set([...(await distinctAnswers(outputs.url))].map((a) => a.slice(0, 10)))).toEqual(new Set(['200 web v1']))
    expect(run.stderr).toMatch(/^✓ Connect to the Docker host \(\d+\.\ds\)$/m)
    expect(run.stderr).toContain(`Unchanged: ${outputs.url} served by 3 instance(s)`)
  })

  it('in a workflow step (GITHUB_ACTIONS=true) prints exactly what the action prints', async () => {
    const run = await runCli(['deploy', ...flags(inputs)], { GITHUB_ACTIONS: 'true' })
    const action = await runAction(inputs)
    expect(run.code, explain(run)).toBe(0)
    expect(action.code, explain({ ...action })).toBe(0)
    expect(run.stdout).toMatch(/^::group::Connect to the Docker host$/m)
    expect(run.stdout).toMatch(/^::endgroup::$/m)
    expect(run.stdout).not.toMatch(/^✓ /m)
    // The pull's error text comes from the network; the rest is the same byte for byte.
    const samePull = (stdout: string): string => stdout.replace(/(::warning::Could not pull \S+ )\(.*\); /g, '$1(...); ')
    expect(samePull(run.stdout)).toBe(samePull(action.stdout))
    expect(run.stderr).toBe(action.stderr)
  })

  it('tears down with --output json: an empty object', async () => {
    const run = await runCli([
      'teardown',
      `--instance-prefix=${prefix}`,
      ...(inputs['docker-host'] ? [`--docker-host=${inputs['docker-host']}`] : []),
      '--output=json',
    ])
    expect(run.code, explain(run)).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({})
    expect(run.stderr).toMatch(new RegExp(`^Removed \\d+ object\\(s\\) of deployment '${prefix}'`, 'm'))
    expect(objectsOf(prefix)).toEqual([])
  })
})

describe('a failed vic-lb deploy', () => {
  it('exits 1 with the error as plain lines on stderr, real newlines included, leaving nothing', async () => {
    const prefix = uniquePrefix('clicrash')
    created.push(prefix)
    const run = await runCli(['deploy', ...flags(await localInputs(prefix, { image: IMAGES.crash, instances: '1' })), '--output', 'json'])
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stdout + run.stderr).not.toMatch(WORKFLOW_COMMAND)
    expect(run.stderr).toMatch(
      new RegExp(
        `^error: Instance ${prefix}-[0-9a-f]{8}-1 exited with code 3 right after starting\\. Its last log lines:\\n(?:.*\\n)*crash: failing on purpose\\n`,
        'm',
      ),
    )
    expect(run.stderr).not.toContain('%0A')
    expect(run.stderr).toMatch(/^✗ Wait until every instance serves through the load-balancer failed after \d+\.\ds$/m)
    expect(run.stderr).toMatch(/^✓ Deploy failed: undo this run \(\d+\.\ds\)$/m)
    expect(objectsOf(prefix)).toEqual([])
  })

  it('reports which instances are not healthy yet while it waits', async () => {
    const prefix = uniquePrefix('clisilent')
    created.push(prefix)
    const run = await runCli(['deploy', ...flags(await localInputs(prefix, { image: IMAGES.silent, instances: '2', 'wait-timeout': '15' }))])
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toMatch(
      new RegExp(`^ {2}0 of 2 instances healthy; waiting for ${prefix}-[0-9a-f]{8}-1: DOWN \\(last check: L4\\w+\\), ${prefix}-[0-9a-f]{8}-2: DOWN`, 'm'),
    )
    expect(run.stdout).toMatch(new RegExp(`^ {2}▸ Logs of ${prefix}-lb$`, 'm'))
    expect(run.stderr).toMatch(/^error: Timed out waiting for the deployment to become ready: 2 of 2 instances not healthy yet\.$/m)
    expect(objectsOf(prefix)).toEqual([])
  })
})

describe('vic-lb with a file flag it cannot read', () => {
  it('refuses an unreadable file before connecting, with exit code 2', async () => {
    const run = await runCli(['deploy', '--image', IMAGES.web1, '--tls-key-file', '/nonexistent-vic-lb/key.pem'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^vic-lb: Could not read --tls-key-file: ENOENT: no such file or directory, open '\/nonexistent-vic-lb\/key\.pem'\n/)
    expect(run.stdout).toBe('')
  })
})

// The suite's TLS endpoint in front of the engine under test, which requires client certificates:
// the PEM files are given by path.
describe('vic-lb with --tls-*-file flags', () => {
  it('deploys and tears down over TLS, never printing the key or the Docker host', async () => {
    const prefix = uniquePrefix('clitls')
    created.push(prefix)
    const host = `tcp://${tlsEndpoint()}`
    const tls = [
      '--docker-host',
      host,
      '--tls-ca-cert-file',
      `${TLS_DIR}/ca.pem`,
      '--tls-cert-file',
      `${TLS_DIR}/cert.pem`,
      '--tls-key-file',
      `${TLS_DIR}/key.pem`,
    ]
    const { 'docker-host': _, ...inputs } = await localInputs(prefix, { instances: '2' })
    const deploy = await runCli(['deploy', ...flags(inputs), ...tls, '--output', 'json'])
    expect(deploy.code, explain(deploy)).toBe(0)
    expect(JSON.parse(deploy.stdout).instances).toHaveLength(2)
    const teardown = await runCli(['teardown', `--instance-prefix=${prefix}`, ...tls])
    expect(teardown.code, explain(teardown)).toBe(0)
    expect(teardown.stdout).toMatch(/^Removed \d+ object\(s\)/m)
    expect(objectsOf(prefix)).toEqual([])

    const keyLines = fs
      .readFileSync(`${TLS_DIR}/key.pem`, 'utf8')
      .split('\n')
      .filter((l) => l.length >= 8 && !l.startsWith('-----'))
    expect(keyLines.length).toBeGreaterThan(0)
    // The address really passed as --docker-host (the endpoint's port is a free one of this run),
    // with or without its scheme.
    const address = host.slice('tcp://'.length)
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/)
    const expectNeitherKeyNorHost = (output: string): void => {
      for (const line of keyLines) expect(output).not.toContain(line)
      expect(output).not.toContain(address)
    }
    // The check fails when the address is printed, in any form a message would give it.
    for (const leak of [`Connected to ${host}`, `connect ECONNREFUSED ${address}`]) expect(() => expectNeitherKeyNorHost(leak)).toThrow()
    for (const output of [deploy.stdout, deploy.stderr, teardown.stdout, teardown.stderr]) expectNeitherKeyNorHost(output)
  })
})
