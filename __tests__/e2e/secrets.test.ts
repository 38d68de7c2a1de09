import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LABEL_DEPLOYMENT, TLS_DIR, docker, explain, localInputs, objectsOf, removeDeployment, runAction, tlsEndpoint, tlsInputs, uniquePrefix, type ActionRun } from './harness'

// Secret inputs (docker-host, the TLS key material, registry-password) at debug level, through a
// deploy and a teardown over TLS. Masking is the runner's: our process cannot hide what it prints,
// it can only register each secret with `::add-mask::` before printing anything. So:
//   - every secret, and every line of the PEM inputs, is add-masked before any other output;
//   - the key material and the password appear nowhere else: not in stdout or stderr (even masked
//     output would show the runner's log a '***' where none is needed), the job summary, the
//     outputs, nor the labels, environment or command of anything created on the Docker host;
//   - docker-host is named in errors, on purpose (it says which host failed); the runner masks it
//     there. It must never reach the outputs, the summary or the Docker host, and a run that
//     succeeds does not print it at all;
//   - nothing is written to disk: RUNNER_TEMP and TMPDIR hold no PEM file afterwards.

const DOCKER_HOST = `tcp://${tlsEndpoint()}`
const PASSWORD = `pw-${randomBytes(12).toString('base64url')}-$'"\\`
const USERNAME = 'ci-bot'

const created: string[] = []
const dirs: string[] = []
afterAll(() => {
  created.forEach(removeDeployment)
  dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }))
})

function secretInputs(): Record<string, string> {
  return { 'docker-host': DOCKER_HOST, ...tlsInputs(), 'registry-username': USERNAME, 'registry-password': PASSWORD }
}

// What must never be seen: the password (and the base64 forms a registry auth header takes), the
// whole PEM values and every line of them but the BEGIN/END markers.
function neverShown(inputs: Record<string, string>): string[] {
  const auth = JSON.stringify({ username: USERNAME, password: PASSWORD })
  const pemLines = ['tls-key', 'tls-cert', 'tls-ca-cert'].flatMap((name) =>
    inputs[name]
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length >= 8 && !line.startsWith('-----')),
  )
  return [PASSWORD, Buffer.from(auth).toString('base64'), Buffer.from(auth).toString('base64url'), ...pemLines]
}

// `::add-mask::` values as the runner reads them (@actions/core escapes %, CR and LF).
function maskCommands(stdout: string): { masked: string[]; firstOtherLine: number; lastMaskLine: number } {
  const lines = stdout.split('\n')
  const masked: string[] = []
  let lastMaskLine = -1
  lines.forEach((line, i) => {
    if (!line.startsWith('::add-mask::')) return
    masked.push(line.slice('::add-mask::'.length).replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%'))
    lastMaskLine = i
  })
  return { masked, firstOtherLine: lines.findIndex((line) => line !== '' && !line.startsWith('::add-mask::')), lastMaskLine }
}

function withoutMaskCommands(stdout: string): string {
  return stdout
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n')
}

function expectMaskedFirst(run: ActionRun, inputs: Record<string, string>): void {
  const { masked, firstOtherLine, lastMaskLine } = maskCommands(run.stdout)
  expect(lastMaskLine, 'every ::add-mask:: comes before any other output').toBeLessThan(firstOtherLine)
  for (const name of ['docker-host', 'tls-ca-cert', 'tls-cert', 'tls-key', 'registry-password']) expect(masked, name).toContain(inputs[name].trim())
  for (const line of neverShown(inputs).slice(3)) expect(masked).toContain(line)
}

function expectNowhere(run: ActionRun, secrets: string[]): void {
  const places: [string, string][] = [
    ['stdout (outside ::add-mask::)', withoutMaskCommands(run.stdout)],
    ['stderr', run.stderr],
    ['job summary', run.summary],
    ['outputs', JSON.stringify(run.outputs)],
  ]
  for (const [where, text] of places) for (const secret of secrets) expect(text.includes(secret), `a secret appears in the ${where}`).toBe(false)
}

// Everything the deployment has on the Docker host, as the Engine reports it.
function inspectDeployment(prefix: string): string {
  const filter = `label=${LABEL_DEPLOYMENT}=${prefix}`
  const containers = docker('ps', '-aq', '--filter', filter).split('\n').filter(Boolean)
  const networks = docker('network', 'ls', '-q', '--filter', filter).split('\n').filter(Boolean)
  expect(containers.length).toBeGreaterThan(0)
  return [docker('inspect', ...containers), docker('network', 'inspect', ...networks)].join('\n')
}

function pemFilesIn(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).flatMap((entry) => {
    const full = path.join(entry.parentPath, entry.name)
    return entry.isFile() && fs.readFileSync(full, 'utf8').includes('-----BEGIN') ? [full] : []
  })
}

async function debugRun(inputs: Record<string, string>): Promise<{ run: ActionRun; temp: string[] }> {
  const runnerTemp = fs.mkdtempSync(path.join(os.tmpdir(), 'secrets-runner-temp-'))
  const tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), 'secrets-tmpdir-'))
  dirs.push(runnerTemp, tmpdir)
  const run = await runAction(inputs, { ACTIONS_STEP_DEBUG: 'true', RUNNER_DEBUG: '1', RUNNER_TEMP: runnerTemp, TMPDIR: tmpdir })
  return { run, temp: [...pemFilesIn(runnerTemp), ...pemFilesIn(tmpdir)] }
}

describe('secrets at debug level: deploy and teardown over TLS with registry credentials', () => {
  const prefix = uniquePrefix('secrets')
  created.push(prefix)
  let inputs: Record<string, string>

  it('deploy: masks every secret first, and shows the key material and the password nowhere', async () => {
    inputs = { ...(await localInputs(prefix, { instances: '2' })), ...secretInputs() }
    const { run, temp } = await debugRun(inputs)
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain('::debug::') // debug output was on
    // The pull is tried with the credentials (offline it fails, and the local copy serves).
    expect(run.stdout).toMatch(/Could not pull vic-lb-test\/web:1 .*using the copy already on the Docker host/)
    expectMaskedFirst(run, inputs)
    expectNowhere(run, [...neverShown(inputs), DOCKER_HOST])
    expect(temp).toEqual([])
    const onHost = inspectDeployment(prefix)
    for (const secret of [...neverShown(inputs), DOCKER_HOST]) expect(onHost.includes(secret), 'a secret reached the Docker host').toBe(false)
  })

  it('teardown: the same', async () => {
    const { run, temp } = await debugRun({ command: 'teardown', 'instance-prefix': prefix, ...secretInputs() })
    expect(run.code, explain(run)).toBe(0)
    expectMaskedFirst(run, inputs)
    expectNowhere(run, [...neverShown(inputs), DOCKER_HOST])
    expect(temp).toEqual([])
    expect(objectsOf(prefix)).toEqual([])
  })

  it('a failure names docker-host only after masking it, and still shows no key material', async () => {
    const failing = { ...inputs, ...tlsInputs(path.join(TLS_DIR, 'expired')) }
    const { run, temp } = await debugRun(failing)
    expect(run.code, explain(run)).toBe(1)
    const error = run.stdout.split('\n').findIndex((line) => line.startsWith('::error::'))
    expect(run.stdout.split('\n')[error]).toContain(`Cannot reach the Docker host ${DOCKER_HOST}`)
    expect(maskCommands(run.stdout).lastMaskLine).toBeLessThan(error)
    expectMaskedFirst(run, failing)
    expectNowhere(run, neverShown(failing))
    expect(temp).toEqual([])
  })
})
