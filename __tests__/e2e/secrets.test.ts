import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { selfSignedPem } from '../../test-support/certificate'
import {
  LABEL_DEPLOYMENT,
  TLS_DIR,
  docker,
  explain,
  expectNowhere,
  inspectDeployment,
  lbConfig,
  lbFile,
  localInputs,
  objectsOf,
  removeDeployment,
  runAction,
  statsAuthorization,
  tlsEndpoint,
  tlsInputs,
  uniquePrefix,
  type ActionRun,
} from './harness'

// Secret inputs (docker-host, the TLS key material, registry-password, secret-env, lb-certificate)
// at debug level, through a deploy and a teardown over TLS. Masking is the runner's: our process cannot hide what it prints,
// it can only register each secret with `::add-mask::` before printing anything. So:
//   - every secret, and every line of the PEM inputs, is add-masked before any other output;
//   - the key material and the password appear nowhere else: not in stdout or stderr (even masked
//     output would show the runner's log a '***' where none is needed), the job summary, the
//     outputs, nor the labels, environment or command of anything created on the Docker host;
//   - secret-env values reach the instances' environment (Config.Env), as they must, and no other
//     place on the Docker host: not the labels, not the load-balancer; lb-certificate is inside the
//     load-balancer only, as a file, never in any container's configuration;
//   - docker-host is named in errors, on purpose (it says which host failed); the runner masks it
//     there. It must never reach the outputs, the summary or the Docker host, and a run that
//     succeeds does not print it at all;
//   - nothing is written to disk: RUNNER_TEMP and TMPDIR hold no PEM file afterwards.

const DOCKER_HOST = `tcp://${tlsEndpoint()}`
const PASSWORD = `pw-${randomBytes(12).toString('base64url')}-$'"\\`
const USERNAME = 'ci-bot'
// Values with what shells and log parsers treat specially; each one is masked on its own.
const SECRET_VALUES = {
  DATABASE_URL: `postgres://app:${randomBytes(9).toString('base64url')}@db:5432/app?x=$y`,
  API_KEY: `k=${randomBytes(12).toString('hex')} "q" #`,
}
const SECRET_ENV = `# from the workflow's secrets\n${Object.entries(SECRET_VALUES)
  .map(([k, v]) => `${k}=${v}`)
  .join('\n')}\n`
const CERTIFICATE = selfSignedPem()

const created: string[] = []
const dirs: string[] = []
afterAll(() => {
  created.forEach(removeDeployment)
  dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }))
})

function secretInputs(): Record<string, string> {
  return {
    'docker-host': DOCKER_HOST,
    ...tlsInputs(),
    'registry-username': USERNAME,
    'registry-password': PASSWORD,
    'secret-env': SECRET_ENV,
    'lb-certificate': CERTIFICATE,
  }
}

// What must never be seen: the password (and the base64 forms a registry auth header takes), the
// whole PEM values and every line of them but the BEGIN/END markers.
function neverShown(inputs: Record<string, string>): string[] {
  const auth = JSON.stringify({ username: USERNAME, password: PASSWORD })
  const pemLines = ['tls-key', 'tls-cert', 'tls-ca-cert', 'lb-certificate'].flatMap((name) =>
    inputs[name]
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length >= 8 && !line.startsWith('-----')),
  )
  return [PASSWORD, Buffer.from(auth).toString('base64'), Buffer.from(auth).toString('base64url'), ...pemLines, ...Object.values(SECRET_VALUES)]
}

// The load-balancer's stats credentials (stats-auth.ts) are made or read back in the middle of a
// deploy, so they are masked then, before anything could show them; every other mask comes first.
const STATS_SECRET = /^(?:[0-9a-f]{48}|Basic [A-Za-z0-9+/=]+)$/

// `::add-mask::` values as the runner reads them (@actions/core escapes %, CR and LF).
function maskCommands(stdout: string): { masked: string[]; firstOtherLine: number; lastMaskLine: number } {
  const lines = stdout.split('\n')
  const masked: string[] = []
  let lastMaskLine = -1
  lines.forEach((line, i) => {
    if (!line.startsWith('::add-mask::')) return
    const value = line.slice('::add-mask::'.length).replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')
    masked.push(value)
    if (!STATS_SECRET.test(value)) lastMaskLine = i
  })
  return { masked, firstOtherLine: lines.findIndex((line) => line !== '' && !line.startsWith('::add-mask::')), lastMaskLine }
}

function expectMaskedFirst(run: ActionRun, inputs: Record<string, string>): void {
  const { masked, firstOtherLine, lastMaskLine } = maskCommands(run.stdout)
  expect(lastMaskLine, 'every ::add-mask:: comes before any other output').toBeLessThan(firstOtherLine)
  for (const name of ['docker-host', 'tls-ca-cert', 'tls-cert', 'tls-key', 'registry-password', 'secret-env', 'lb-certificate'])
    expect(masked, name).toContain(inputs[name].trim())
  for (const line of neverShown(inputs).slice(3)) expect(masked).toContain(line)
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
    const statsAuth = /^\s*stats auth (\S+)$/m.exec(lbConfig(prefix))![1]
    const statsSecrets = [statsAuth.split(':')[1], statsAuthorization(prefix)]
    for (const secret of statsSecrets) expect(maskCommands(run.stdout).masked).toContain(secret)
    // The stats page's private key, made by the action, is never printed (nor masked: nothing shows it).
    const statsKey = lbFile(`${prefix}-lb`, 'stats.pem')
      .split('-----BEGIN PRIVATE KEY-----\n')[1]
      .split('\n')
      .filter((line) => /^[A-Za-z0-9+/=]{16,}$/.test(line))
    expect(statsKey.length).toBeGreaterThan(0)
    expectNowhere(run, [...neverShown(inputs), DOCKER_HOST, ...statsSecrets, ...statsKey])
    expect(temp).toEqual([])
    const onHost = inspectDeployment(prefix)
    const envValues = Object.values(SECRET_VALUES)
    for (const secret of [...neverShown(inputs).filter((s) => !envValues.includes(s)), DOCKER_HOST, ...statsKey])
      expect(onHost.includes(secret), 'a secret reached the Docker host').toBe(false)
    const containers = docker('ps', '-aq', '--filter', `label=${LABEL_DEPLOYMENT}=${prefix}`).split('\n')
    const labels = docker('inspect', '-f', '{{json .Config.Labels}}', ...containers)
    const envs = docker('inspect', '-f', '{{.Name}} {{json .Config.Env}}', ...containers)
    for (const value of envValues) {
      expect(labels.includes(value), 'a secret-env value is in a label').toBe(false)
      // In the instances' environment only: not the load-balancer's.
      for (const line of envs.split('\n'))
        expect(line.includes(JSON.stringify(value).slice(1, -1)), line.split(' ')[0]).toBe(line.startsWith(`/${prefix}-`) && !line.startsWith(`/${prefix}-lb `))
    }
    expect(run.outputs.url).toMatch(/^https:\/\//)
  })

  it('a re-run, which compares the secret-env values with the running instances: the same', async () => {
    const { run, temp } = await debugRun(inputs)
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain('Unchanged')
    expectMaskedFirst(run, inputs)
    expectNowhere(run, [...neverShown(inputs), DOCKER_HOST])
    expect(temp).toEqual([])
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
