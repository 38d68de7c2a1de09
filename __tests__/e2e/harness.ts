import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, expect, inject } from 'vitest'
import { parse } from 'yaml'
import { certificateIn } from '../../src/haproxy/stats-certificate'
import { ENGINE, docker, dockerCliEnv, freePort } from '../../test-support/host'

export { ENGINE, docker, freePort }

// Runs the bundled action exactly as the Actions runner does: `node dist/index.js` with every
// input as INPUT_<NAME> (action.yml's defaults filled in), and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY
// files to read back. Every run and every docker CLI call goes to the engine under test (ENGINE:
// VIC_LB_E2E_ENGINE, VIC_LB_E2E_DOCKER_HOST, VIC_LB_E2E_HAPROXY_IMAGE). On Podman the test images
// are named localhost/vic-lb-test/...; the short names below resolve to them there.

export const ROOT = path.resolve(__dirname, '../..')
export const IMAGES = {
  web1: 'vic-lb-test/web:1',
  web2: 'vic-lb-test/web:2',
  crash: 'vic-lb-test/crash:1',
  silent: 'vic-lb-test/silent:1',
  traffic: 'vic-lb-test/traffic:1',
  haproxy: ENGINE.haproxyImage,
}

// Tests of something only dockerd has (the VCH stand-in proxies dockerd's socket) run on the docker
// engine only; each use says why.
export const ON_DOCKERD = ENGINE.kind === 'docker'

// The VCH stand-in is a proxy in front of dockerd's socket. A file of its tests fails on another
// engine (scripts/test.sh leaves those files out of the other suites), rather than pass having
// run nothing.
export function requireDockerd(file: string): void {
  if (!ON_DOCKERD)
    throw new Error(`${file} tests through the VCH stand-in, a proxy in front of dockerd's socket: run it with VIC_LB_E2E_ENGINE=docker, not ${ENGINE.kind}`)
}

export const LABEL_DEPLOYMENT = 'io.github.vic-lb-action.deployment'
export const TLS_DIR = process.env.VIC_LB_TLS_DIR ?? '/tmp/vic-lb-tls'

// host:port of the suite's TLS endpoint of the engine under test (tls-endpoint-setup.ts), which
// requires a client certificate from TLS_DIR.
export function tlsEndpoint(): string {
  return `127.0.0.1:${inject('dockerTlsPort')}`
}

export interface ActionRun {
  code: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
  // What the step saved for its post step (core.saveState), the last value of each name.
  state: Record<string, string>
}

const actionDefaults: Record<string, string> = Object.fromEntries(
  Object.entries(parse(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')).inputs as Record<string, { default?: string }>)
    .filter(([, spec]) => spec.default !== undefined)
    .map(([name, spec]) => [name, String(spec.default)]),
)

// The action talks to the engine under test unless the test names a host itself, as an input or as
// DOCKER_HOST in the environment.
export async function runAction(inputs: Record<string, string>, env: Record<string, string> = {}): Promise<ActionRun> {
  return startAction(inputs, env).finished
}

export interface StartedAction {
  child: ChildProcess
  // Everything printed so far, stdout then stderr.
  output(): string
  finished: Promise<ActionRun>
}

// How a step is started: the main step (dist/index.js) unless told; `wrapper` is a command that
// runs node, e.g. in a PID namespace of its own, as on another machine.
export interface StepStart {
  entry?: 'dist/index.js' | 'dist/post.js'
  wrapper?: string[]
}

// The main step as a process the test can signal, as the runner does when a run is cancelled.
export function startAction(inputs: Record<string, string>, env: Record<string, string> = {}, step: StepStart = {}): StartedAction {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-e2e-'))
  const files = { output: path.join(dir, 'output'), summary: path.join(dir, 'summary'), state: path.join(dir, 'state') }
  for (const file of Object.values(files)) fs.writeFileSync(file, '')
  const child = spawnAction(
    inputs,
    { GITHUB_OUTPUT: files.output, GITHUB_STEP_SUMMARY: files.summary, GITHUB_STATE: files.state, RUNNER_TEMP: dir, ...env },
    step,
  )
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const finished = new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1))).then((code) => {
    const read = (file: string): string => fs.readFileSync(file, 'utf8')
    const run = { code, stdout, stderr, outputs: parseOutputs(read(files.output)), summary: read(files.summary), state: parseOutputs(read(files.state)) }
    fs.rmSync(dir, { recursive: true, force: true })
    return run
  })
  return { child, output: () => stdout + stderr, finished }
}

// The post step as the runner starts it (action.yml runs.post): the same inputs, with the state the
// main step saved as STATE_<name> variables.
export async function runPost(inputs: Record<string, string>, state: Record<string, string>, env: Record<string, string> = {}): Promise<ActionRun> {
  const stateEnv = Object.fromEntries(Object.entries(state).map(([name, value]) => [`STATE_${name}`, value]))
  return startAction(inputs, { ...env, ...stateEnv }, { entry: 'dist/post.js' }).finished
}

function spawnAction(inputs: Record<string, string>, env: Record<string, string>, { entry = 'dist/index.js', wrapper = [] }: StepStart): ChildProcess {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_') && !k.startsWith('DOCKER_') && !k.startsWith('STATE_')))
  // The engine under test, unless the test names a Docker host itself.
  const engine = env.DOCKER_HOST ? {} : { 'docker-host': ENGINE.dockerHost }
  const inputEnv = Object.fromEntries(Object.entries({ ...actionDefaults, ...engine, ...inputs }).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]))
  const [command, ...args] = [...wrapper, process.execPath, path.join(ROOT, entry)]
  return spawn(command, args, { env: { ...base, ...inputEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

// GITHUB_OUTPUT and GITHUB_STATE hold `name<<DELIMITER\nvalue\nDELIMITER` blocks; the last one
// of a name wins, as the runner reads them.
function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {}
  const pattern = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n\2$/gm
  for (const m of text.matchAll(pattern)) outputs[m[1]] = m[3]
  return outputs
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// Polls until the condition holds; fails naming what was not seen in time.
export async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not seen within ${timeoutMs} ms: ${what}`)
    await sleep(50)
  }
}

export function explain(run: ActionRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`
}

// A unique deployment name per test, so tests never see each other's objects.
export function uniquePrefix(tag: string): string {
  return `e2e-${tag}-${Math.random().toString(36).slice(2, 8)}`
}

// Inputs for a deploy of the local test images, published on a free port of this machine.
export async function localInputs(prefix: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    image: IMAGES.web1,
    'haproxy-image': IMAGES.haproxy,
    'instance-prefix': prefix,
    'lb-name': `${prefix}-lb`,
    'external-network': '',
    'lb-port': String(await freePort()),
    'wait-timeout': '60',
    ...extra,
  }
}

// The distinct bodies the service answers with over `requests` requests: the test web image
// answers with its container's hostname, so this counts the instances that really serve. Plain
// fetch requests, not sent again: a request that meets HAProxy closing its idle connection fails
// the test (deploy.test.ts shows the Keep-Alive header prevents that).
export async function distinctAnswers(url: string, requests = 30): Promise<Set<string>> {
  const answers = new Set<string>()
  for (let i = 0; i < requests; i++) {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
    answers.add(`${response.status} ${(await response.text()).trim()}`)
  }
  return answers
}

// Names of every container, network and volume labelled as this deployment's.
export function objectsOf(prefix: string): string[] {
  const filter = `label=${LABEL_DEPLOYMENT}=${prefix}`
  const containers = docker('ps', '-a', '--filter', filter, '--format', '{{.Names}}')
  const networks = docker('network', 'ls', '--filter', filter, '--format', '{{.Name}}')
  const volumes = docker('volume', 'ls', '--filter', filter, '--format', '{{.Name}}')
  return [...containers.split('\n'), ...networks.split('\n'), ...volumes.split('\n')].filter(Boolean).sort()
}

// A file of a load-balancer's configuration directory as it is now, through the Docker API (the
// HAProxy image has no shell tools to exec).
export function lbFile(lb: string, file: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-cfg-'))
  try {
    docker('cp', `${lb}:/usr/local/etc/haproxy/${file}`, dir)
    return fs.readFileSync(path.join(dir, file), 'utf8')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export function lbConfig(prefix: string, lb = `${prefix}-lb`): string {
  return lbFile(lb, 'haproxy.cfg')
}

// The certificate the load-balancer's stats page serves, read from inside it as the action reads it.
export function statsCertificate(prefix: string, lb = `${prefix}-lb`): string {
  const certificate = certificateIn(lbFile(lb, 'stats.pem'))
  if (!certificate) throw new Error(`no certificate in the stats.pem of ${lb}`)
  return certificate
}

// The Authorization header the load-balancer's stats page requires, read from its configuration
// as the action reads it.
export function statsAuthorization(prefix: string, lb?: string): string {
  const auth = /^\s*stats auth (\S+)$/m.exec(lbConfig(prefix, lb))?.[1]
  if (!auth) throw new Error(`no stats auth in the configuration of ${lb ?? `${prefix}-lb`}`)
  return `Basic ${Buffer.from(auth).toString('base64')}`
}

export function removeDeployment(prefix: string): void {
  const filter = `label=${LABEL_DEPLOYMENT}=${prefix}`
  const containers = docker('ps', '-aq', '--filter', filter).split('\n').filter(Boolean)
  if (containers.length > 0) docker('rm', '-f', ...containers)
  const networks = docker('network', 'ls', '-q', '--filter', filter).split('\n').filter(Boolean)
  if (networks.length > 0) docker('network', 'rm', ...networks)
  const volumes = docker('volume', 'ls', '-q', '--filter', filter).split('\n').filter(Boolean)
  if (volumes.length > 0) docker('volume', 'rm', ...volumes)
}

// A new deployment name for each call, every one of them removed once the test file is done.
export function deploymentsRemovedAfterAll(): (tag: string) => string {
  const created: string[] = []
  afterAll(() => created.forEach(removeDeployment))
  return (tag) => {
    const prefix = uniquePrefix(tag)
    created.push(prefix)
    return prefix
  }
}

// The user IDs HAProxy's master and its workers run as in a load-balancer container, read from
// this machine's /proc (the engines under test run here; Podman 4.3's `top` answers nothing).
export function haproxyUids(container: string): { master: number; workers: number[] } {
  const pid = docker('inspect', '-f', '{{.State.Pid}}', container)
  const uid = (p: string): number => Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))![1])
  const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
  return { master: uid(pid), workers: children.map(uid) }
}

export function tlsInputs(dir = TLS_DIR): Record<string, string> {
  const read = (file: string): string => fs.readFileSync(path.join(dir, file), 'utf8')
  return { 'tls-ca-cert': read('ca.pem'), 'tls-cert': read('cert.pem'), 'tls-key': read('key.pem') }
}

// Removes an image a test built. Podman finishes a removed container's clean-up in the background
// (conmon), and meanwhile still counts it as using the image: try again for a few seconds. A
// container that really goes on using it still fails the removal, naming it.
export async function removeImage(tag: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      docker('rmi', tag)
      return
    } catch (error) {
      if (attempt >= 20 || !/in use/i.test(String((error as { stderr?: string }).stderr ?? error))) throw error
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
}

// Builds a small image from a Dockerfile text, offline (FROM one of the local test images).
export function buildImage(tag: string, dockerfile: string): void {
  execFileSync('docker', ['build', '-q', '-t', tag, '-'], {
    input: dockerfile,
    env: { ...dockerCliEnv(), DOCKER_BUILDKIT: '0' },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

// A holder in a PID namespace of its own, as on another machine: its process cannot be proven gone
// from here, only its lease can tell. Its first deploy's instances never get healthy, so it is
// SIGKILLed (no post step) while it holds the lock, and leaves a load-balancer that serves nothing:
// the next deploy takes the lock over within 30 s and fixes that. Also run through the VCH stand-in.
export async function expectTakeOverOfKilledHolder(prefix: string, inputs: Record<string, string>): Promise<void> {
  const holder = startAction(
    { ...inputs, image: IMAGES.silent, 'wait-timeout': '120' },
    {},
    { wrapper: ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc'] },
  )
  await until('the holder holds the lock', () => objectsOf(prefix).includes(`${prefix}-lock`))
  await until('the holder waits for readiness', () => holder.output().includes('Wait until every instance serves'))
  holder.child.kill('SIGKILL')
  const killedAt = Date.now()
  await holder.finished

  // The images are on the host: the time measured is the lease's, not a registry's (Podman tries one for 3 s).
  const waiter = startAction({ ...inputs, image: IMAGES.web2, pull: 'missing', 'wait-timeout': '60' })
  await until('the waiter takes the lock over', () => waiter.output().includes('Taking over the lock'), 40_000)
  const tookOverAfterS = (Date.now() - killedAt) / 1000
  console.log(`${prefix}: the lock of the killed holder was taken over ${tookOverAfterS.toFixed(1)} s after the kill`)
  expect(tookOverAfterS).toBeLessThan(30)
  const next = await waiter.finished
  expect(next.code, explain(next)).toBe(0)
  expect(next.stdout).toMatch(/whose lease lapsed: it was not renewed for 1\d s/)
  const instances = JSON.parse(next.outputs.instances) as string[]
  expect(objectsOf(prefix).sort()).toEqual([...instances, `${prefix}-lb`, `${prefix}-net`].sort())
  expect((await distinctAnswers(next.outputs.url, 10)).size).toBe(instances.length)
}

export function withoutMaskCommands(stdout: string): string {
  return stdout
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n')
}

export function expectNowhere(run: ActionRun, secrets: string[]): void {
  const places: [string, string][] = [
    ['stdout (outside ::add-mask::)', withoutMaskCommands(run.stdout)],
    ['stderr', run.stderr],
    ['job summary', run.summary],
    ['outputs', JSON.stringify(run.outputs)],
  ]
  for (const [where, text] of places) for (const secret of secrets) expect(text.includes(secret), `a secret appears in the ${where}`).toBe(false)
}

// Everything the deployment has on the Docker host, as the Engine reports it.
export function inspectDeployment(prefix: string): string {
  const filter = `label=${LABEL_DEPLOYMENT}=${prefix}`
  const containers = docker('ps', '-aq', '--filter', filter).split('\n').filter(Boolean)
  const networks = docker('network', 'ls', '-q', '--filter', filter).split('\n').filter(Boolean)
  expect(containers.length).toBeGreaterThan(0)
  return [docker('inspect', ...containers), docker('network', 'inspect', ...networks)].join('\n')
}
