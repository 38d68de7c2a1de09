import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { selfSignedPem } from '../test-support/certificate'
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { INPUT_SPECS, readInputs } from '../src/inputs'
import { readActionInput, run } from '../src/main'
import { InputError } from '../src/errors'

type Values = Record<string, string | undefined>
const reader = (values: Values) => (name: string) => values[name]

// Workflow commands are single lines: the toolkit escapes %, CR and LF in their message.
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')

let written: string[] = []
let savedExitCode: typeof process.exitCode

function capture(): void {
  written = []
  savedExitCode = process.exitCode
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
    return true
  })
}

function release(): void {
  vi.restoreAllMocks()
  // core.setFailed sets it; the test run itself must not fail because of that.
  process.exitCode = savedExitCode
}

beforeEach(capture)
afterEach(release)

// Everything printed, as lines.
function lines(): string[] {
  return written
    .join('')
    .split(/\r?\n/)
    .filter((l) => l !== '')
}

// One run and what it printed and set, for several tests to look at.
async function runOnce(values: Values): Promise<{ out: string[]; exitCode: typeof process.exitCode }> {
  capture()
  try {
    await run(reader(values))
    return { out: lines(), exitCode: process.exitCode }
  } finally {
    release()
  }
}

function base64Lines(bytes: number): string {
  return (
    randomBytes(bytes)
      .toString('base64')
      .match(/.{1,64}/g) ?? []
  ).join('\n')
}

describe('run: invalid inputs', () => {
  it('fails the step with the input error as a ::error:: annotation, before connecting anywhere', async () => {
    const values: Values = { image: 'nginx', instances: '101', 'docker-host': 'unix:///nonexistent.sock' }
    let expected = ''
    try {
      readInputs(reader(values))
    } catch (error) {
      expect(error).toBeInstanceOf(InputError)
      expected = (error as Error).message
    }
    expect(expected).toContain('instances')

    await run(reader(values))

    expect(process.exitCode).toBe(1)
    const errors = lines().filter((l) => l.startsWith('::error'))
    expect(errors).toEqual([`::error::${escapeData(expected)}`])
    expect(errors[0]).toContain("'101'")
    expect(lines().some((l) => l.startsWith('::group::'))).toBe(false)
  })

  it.each([
    [{ command: 'destroy' }, 'command'],
    [{ image: 'nginx', 'health-check-path': '/x', protocol: 'tcp' }, 'health-check-path'],
    [{ image: 'nginx', 'docker-host': 'ftp://secret-host:1' }, 'docker-host'],
    [{}, 'image'],
  ] as [Values, string][])('fails for %j, naming %s', async (values, input) => {
    await run(reader(values))
    expect(process.exitCode).toBe(1)
    const errors = lines().filter((l) => l.startsWith('::error'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(input)
    expect(errors[0]).not.toContain('secret-host')
  })
})

describe('run: secrets are masked before anything else is printed', () => {
  const { privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  })
  const certificate = (label: string) => `-----BEGIN ${label}-----\n${base64Lines(600)}\n-----END ${label}-----\n`
  const values: Values = {
    command: 'deploy',
    image: 'nginx:1.27',
    // Fails fast on connect, after the inputs were read and masked.
    'docker-host': 'unix:///nonexistent.sock',
    'tls-ca-cert': certificate('CERTIFICATE'),
    // As pasted on Windows.
    'tls-cert': certificate('CERTIFICATE').replace(/\n/g, '\r\n'),
    'tls-key': privateKey,
    'registry-username': 'deploy-bot',
    'registry-password': 'ghp_' + randomBytes(18).toString('hex'),
    'lb-certificate': selfSignedPem(),
    'secret-env': `DATABASE_URL=postgres://app:${randomBytes(9).toString('hex')}@db/app\n# a comment\nAPI_KEY=${randomBytes(12).toString('base64')}\n`,
    'basic-auth': `reviewer:${randomBytes(12).toString('base64')}\nqa:${randomBytes(6).toString('hex')} with: colons\n`,
    // Not a secret input as a whole: only its secret-env values are.
    services: `- name: db\n  image: postgres:16\n  env: {POSTGRES_DB: appdb}\n  secret-env:\n    POSTGRES_PASSWORD: ${randomBytes(9).toString('hex')}\n`,
  }
  for (const spec of INPUT_SPECS.filter((s) => s.secret && values[s.name] === undefined)) values[spec.name] = `${spec.name}-${randomBytes(12).toString('hex')}`
  const secretInputs = INPUT_SPECS.filter((s) => s.secret).map((s) => s.name)

  // Connecting to the missing socket may be retried for a few seconds: run once for all tests.
  let result: Awaited<ReturnType<typeof runOnce>>
  beforeAll(async () => {
    result = await runOnce(values)
  }, 60_000)

  it('covers every secret input, listed out so that none drops out unnoticed', () => {
    expect([...secretInputs].sort()).toEqual(
      ['docker-host', 'tls-ca-cert', 'tls-cert', 'tls-key', 'registry-password', 'lb-certificate', 'secret-env', 'basic-auth', 'github-token'].sort(),
    )
  })

  it('registers every secret, and every long line of each PEM, as a mask first', () => {
    const { out } = result
    expect(out.length).toBeGreaterThan(0)

    const firstOther = out.findIndex((l) => !l.startsWith('::add-mask::'))
    const masks = out.slice(0, firstOther < 0 ? out.length : firstOther).map((l) => l.slice('::add-mask::'.length))
    // No mask comes late: once anything else was printed, a secret may already have leaked.
    expect(out.slice(masks.length).filter((l) => l.startsWith('::add-mask::'))).toEqual([])

    for (const name of secretInputs) {
      const value = values[name]!
      expect(masks, `${name} is masked whole`).toContain(escapeData(value.trim()))
      const pemLines = value.split(/\r?\n/).map((l) => l.trim())
      // Base64 body lines and the BEGIN/END lines of a PEM are each masked: a log line holds one.
      for (const line of pemLines.filter((l) => l.length >= 16)) expect(masks, `a line of ${name}`).toContain(escapeData(line))
    }
    // Each secret-env value on its own, as a program in an instance may print it.
    for (const line of values['secret-env']!.split('\n').filter((l) => l.includes('='))) expect(masks).toContain(escapeData(line.slice(line.indexOf('=') + 1)))
    // Each services secret-env value.
    expect(masks).toContain(/POSTGRES_PASSWORD: (\w+)/.exec(values.services!)![1])
    expect(masks).not.toContain('appdb')
    // Each basic-auth password, its whole line, and the base64 an Authorization header carries.
    for (const line of values['basic-auth']!.split('\n').filter((l) => l.includes(':'))) {
      const [user, password] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]
      for (const form of [password, line, Buffer.from(`${user}:${password}`).toString('base64')]) expect(masks).toContain(escapeData(form))
    }
    // Nothing that is not secret is masked (that would garble the log).
    expect(masks).not.toContain('deploy-bot')
    expect(masks).not.toContain('nginx:1.27')
    expect(masks.every((m) => m.length >= 8)).toBe(true)
  })

  it('then fails on connect, naming the host, with no secret but the (masked) host in the error', () => {
    expect(result.exitCode).toBe(1)
    const errors = result.out.filter((l) => l.startsWith('::error'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/Cannot reach the Docker host/)
    expect(errors[0]).toContain('unix:///nonexistent.sock')
    for (const name of ['tls-ca-cert', 'tls-cert', 'tls-key', 'registry-password'])
      for (const line of values[name]!.split(/\r?\n/).filter((l) => l.trim().length >= 16)) expect(errors[0]).not.toContain(line.trim())
  })

  it('masks DOCKER_HOST from the environment as it masks docker-host', async () => {
    vi.stubEnv('DOCKER_HOST', 'tcp://vch.internal.example:2376')
    try {
      await run(reader({ command: 'deploy', image: 'nginx:1.27', instances: 'many' }))
    } finally {
      vi.unstubAllEnvs()
    }
    const out = lines()
    expect(out[0]).toBe('::add-mask::tcp://vch.internal.example:2376')
    expect(out.at(-1)).toMatch(/^::error::.*instances/)
  })

  it('masks secrets even when another input is invalid', async () => {
    await run(reader({ ...values, instances: 'many' }))
    const out = lines()
    expect(out[0]).toMatch(/^::add-mask::/)
    expect(out.filter((l) => l.startsWith('::add-mask::')).map((l) => l.slice(12))).toContain(values['registry-password'])
    expect(out.at(-1)).toMatch(/^::error::.*instances/)
  })
})

describe('readActionInput', () => {
  afterEach(() => {
    vi.unstubAllEnvs()
  })

  it('reads INPUT_<NAME> as the runner sets it, keeping hyphens', () => {
    vi.stubEnv('INPUT_DOCKER-HOST', 'tcp://h:2376')
    vi.stubEnv('INPUT_EXTERNAL-NETWORK', '')
    expect(readActionInput('docker-host')).toBe('tcp://h:2376')
    // Given as empty is not absent: external-network '' means "publish on the host".
    expect(readActionInput('external-network')).toBe('')
  })

  it('gives undefined for an input the runner did not set', () => {
    delete process.env['INPUT_WAIT-TIMEOUT']
    expect(readActionInput('wait-timeout')).toBeUndefined()
  })
})
