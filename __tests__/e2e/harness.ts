import { spawn, execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { inject } from 'vitest'
import { parse } from 'yaml'
import { docker, freePort } from '../../test-support/host'

export { docker, freePort }

// Runs the bundled action exactly as the Actions runner does: `node dist/index.js` with every
// input as INPUT_<NAME> (action.yml's defaults filled in), and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY
// files to read back.

export const ROOT = path.resolve(__dirname, '../..')
export const IMAGES = {
  web1: 'vic-lb-test/web:1',
  web2: 'vic-lb-test/web:2',
  crash: 'vic-lb-test/crash:1',
  silent: 'vic-lb-test/silent:1',
  haproxy: process.env.VIC_LB_E2E_HAPROXY_IMAGE || 'vic-lb-test/haproxy:2.6',
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
}

const actionDefaults: Record<string, string> = Object.fromEntries(
  Object.entries(parse(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')).inputs as Record<string, { default?: string }>)
    .filter(([, spec]) => spec.default !== undefined)
    .map(([name, spec]) => [name, String(spec.default)]),
)

export async function runAction(inputs: Record<string, string>, env: Record<string, string> = {}): Promise<ActionRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-e2e-'))
  const outputFile = path.join(dir, 'output')
  const summaryFile = path.join(dir, 'summary')
  fs.writeFileSync(outputFile, '')
  fs.writeFileSync(summaryFile, '')
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_') && !k.startsWith('DOCKER_')))
  const inputEnv = Object.fromEntries(Object.entries({ ...actionDefaults, ...inputs }).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]))
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/index.js')], {
    env: { ...base, ...inputEnv, GITHUB_OUTPUT: outputFile, GITHUB_STEP_SUMMARY: summaryFile, RUNNER_TEMP: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)))
  const run = { code, stdout, stderr, outputs: parseOutputs(fs.readFileSync(outputFile, 'utf8')), summary: fs.readFileSync(summaryFile, 'utf8') }
  fs.rmSync(dir, { recursive: true, force: true })
  return run
}

// GITHUB_OUTPUT holds `name<<DELIMITER\nvalue\nDELIMITER` blocks.
function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {}
  const pattern = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n\2$/gm
  for (const m of text.matchAll(pattern)) outputs[m[1]] = m[3]
  return outputs
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
// answers with its container's hostname, so this counts the instances that really serve.
export async function distinctAnswers(url: string, requests = 30): Promise<Set<string>> {
  const answers = new Set<string>()
  for (let i = 0; i < requests; i++) {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
    answers.add(`${response.status} ${(await response.text()).trim()}`)
  }
  return answers
}

// Names of every container and network labelled as this deployment's.
export function objectsOf(prefix: string): string[] {
  const filter = `label=${LABEL_DEPLOYMENT}=${prefix}`
  const containers = docker('ps', '-a', '--filter', filter, '--format', '{{.Names}}')
  const networks = docker('network', 'ls', '--filter', filter, '--format', '{{.Name}}')
  return [...containers.split('\n'), ...networks.split('\n')].filter(Boolean).sort()
}

export function removeDeployment(prefix: string): void {
  const filter = `label=${LABEL_DEPLOYMENT}=${prefix}`
  const containers = docker('ps', '-aq', '--filter', filter).split('\n').filter(Boolean)
  if (containers.length > 0) docker('rm', '-f', ...containers)
  const networks = docker('network', 'ls', '-q', '--filter', filter).split('\n').filter(Boolean)
  if (networks.length > 0) docker('network', 'rm', ...networks)
}

export function tlsInputs(dir = TLS_DIR): Record<string, string> {
  const read = (file: string): string => fs.readFileSync(path.join(dir, file), 'utf8')
  return { 'tls-ca-cert': read('ca.pem'), 'tls-cert': read('cert.pem'), 'tls-key': read('key.pem') }
}

// Builds a small image from a Dockerfile text, offline (FROM one of the local test images).
export function buildImage(tag: string, dockerfile: string): void {
  execFileSync('docker', ['build', '-q', '-t', tag, '-'], { input: dockerfile, env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'pipe', 'pipe'] })
}
