import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { CONFIG_ID_HEADER, STATS_PORT, renderHaproxyConfig, type LbConfig } from '../src/haproxy/config'
import { basicAuthCheck, newBasicAuthSalt } from '../src/haproxy/basic-auth'
import { newStatsAuth } from '../src/haproxy/stats-auth'
import { defaultOf, readInputs, type DeploySettings } from '../src/inputs'
import { resolveTarget } from '../src/docker/target'
import { InputError } from '../src/errors'
import { instanceName } from '../src/names'
import { statsCertificateIn } from '../test-support/certificate'
import { HAPROXY_VERSIONS, haproxyCheck } from '../test-support/haproxy-check'

// Hostile input: every value of every input is either refused with an InputError (one short line
// that cannot smuggle a workflow command or a huge paste into the log) or becomes an HAProxy
// configuration that (a) has exactly the lines the generator writes, the value sitting where a
// value goes as one token HAProxy reads literally, and (b) a real `haproxy -c` accepts.

const ROOT = path.resolve(__dirname, '..')
// As deploy.ts: in publish mode HAProxy listens on 8080 inside its container.
const PUBLISHED_LISTEN_PORT = 8080
const GENERATION = '0123abcd'
const CANDIDATE_GENERATION = 'fedc9876'

const BASE: Record<string, string> = { image: 'vic-lb-test/web:1' }

// One load-balancer's credentials and certificate: every configuration here is compared line by line.
const STATS_AUTH = newStatsAuth()
const statsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-stats-'))
afterAll(() => fs.rmSync(statsDir, { recursive: true, force: true }))
const STATS_CERTIFICATE = statsCertificateIn(statsDir)

function readerOf(values: Record<string, string | undefined>): (name: string) => string | undefined {
  return (name) => (name in values ? values[name] : defaultOf(name) || undefined)
}

// The configuration deploy writes for these settings, while new instances are being checked
// (serving + candidates), which has every kind of line the generator can write.
function configOf(
  settings: Pick<
    DeploySettings,
    'protocol' | 'externalNetwork' | 'lbPort' | 'healthCheckPath' | 'instances' | 'instancePrefix' | 'instancePort' | 'timeouts' | 'basicAuth' | 'allowCidrs'
  >,
): string {
  const servers = (generation: string) =>
    Array.from({ length: settings.instances }, (_, i) => ({ name: instanceName(settings.instancePrefix, generation, i + 1), port: settings.instancePort }))
  const config: LbConfig = {
    protocol: settings.protocol,
    listenPort: settings.externalNetwork ? settings.lbPort : PUBLISHED_LISTEN_PORT,
    servicePort: settings.lbPort,
    timeouts: settings.timeouts,
    healthCheckPath: settings.healthCheckPath,
    serving: servers(GENERATION),
    candidates: servers(CANDIDATE_GENERATION),
    statsAuth: STATS_AUTH,
    basicAuth: settings.basicAuth && basicAuthCheck(settings.instancePrefix, newBasicAuthSalt(), settings.basicAuth),
    allowedSources: settings.allowCidrs,
    ...STATS_CERTIFICATE,
  }
  return renderHaproxyConfig(config)
}

// Characters HAProxy's configuration parser gives a meaning: word separators, comments, quotes,
// escapes, environment variables, and control characters.
const LITERAL_TOKEN = String.raw`[^\s#"'\\$\x00-\x1f\x7f]+`
const SENTINEL = { prefix: 'sentinelprefix', instancePort: 11111, lbPort: 22222, path: '/sentinelpath' }

// The same configuration rendered with sentinel values, each sentinel then standing for "one
// literal token": a line of the real configuration must match its skeleton line exactly.
function skeletonOf(settings: DeploySettings): RegExp[] {
  const skeleton = configOf({
    ...settings,
    instancePrefix: SENTINEL.prefix,
    instancePort: SENTINEL.instancePort,
    lbPort: settings.externalNetwork ? SENTINEL.lbPort : settings.lbPort,
    healthCheckPath: settings.healthCheckPath ? SENTINEL.path : '',
  })
  return skeleton.split('\n').map((line) => {
    const escaped = line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    const shaped = escaped
      .replaceAll(SENTINEL.path, `/${LITERAL_TOKEN.slice(0, -1)}*`)
      .replaceAll(SENTINEL.prefix, LITERAL_TOKEN)
      .replaceAll(String(SENTINEL.instancePort), '[1-9][0-9]{0,4}')
      .replaceAll(String(SENTINEL.lbPort), '[1-9][0-9]{0,4}')
      // The configuration's id is a digest of the rest, sentinels included.
      .replace(new RegExp(`(set-header ${CONFIG_ID_HEADER}) [0-9a-f]{16}$`), '$1 [0-9a-f]{16}')
    return new RegExp(`^${shaped}$`)
  })
}

function expectSameStructure(config: string, settings: DeploySettings): void {
  const lines = config.split('\n')
  const shapes = skeletonOf(settings)
  expect(lines.length).toBe(shapes.length)
  lines.forEach((line, i) => expect(line, `line ${i + 1} of\n${config}`).toMatch(shapes[i]))
}

function expectSafeRefusal(error: unknown, value: string, secret = false): void {
  expect(error).toBeInstanceOf(InputError)
  const message = (error as Error).message
  expect(message).not.toMatch(/[\r\n\u2028\u2029]/)
  expect(message.length).toBeLessThan(400)
  // From 8 characters on: a shorter random value can be a piece of the message's own words
  // ('alue' of 'value'), which says nothing about whether the value was shown.
  if (secret && value.trim().length >= 8) expect(message).not.toContain(value.trim())
}

const accepted = new Map<string, string>() // configuration -> the input value that made it

// Every value of one input, the others at their defaults: refused safely, or a sound configuration.
function checkValue(input: string, value: string, context: Record<string, string> = {}): void {
  let settings: DeploySettings | undefined
  try {
    settings = readInputs(readerOf({ ...BASE, ...context, [input]: value })).deploy
  } catch (error) {
    expectSafeRefusal(error, value)
    return
  }
  if (!settings) return
  const config = configOf(settings)
  expectSameStructure(config, settings)
  // haproxy -c accepts two frontends on one port (SO_REUSEPORT); the service would then share it
  // with the stats page.
  expect(config.match(new RegExp(`^ {4}bind :${STATS_PORT}( |$)`, 'gm'))).toHaveLength(1)
  accepted.set(config, `${input}=${JSON.stringify(value)}`)
}

// ---------------------------------------------------------------------------------------------
// Arbitraries: plausible values, and the same with what an attacker or a slip of the hand adds.

const METACHARS = [
  '\n',
  '\r\n',
  '\r',
  '\t',
  ' ',
  '#',
  '$',
  '${HOME}',
  '"',
  "'",
  '\\',
  '`',
  ';',
  '|',
  '&',
  '\u0000',
  '\u2028',
  '\u00a0',
  '\ufeff',
  'é',
  '名',
  '🙂',
  '%0A',
  '\u001b[31m',
]
const metachar = fc.constantFrom(...METACHARS)
const hostileChars = fc.string({ unit: fc.oneof(metachar, fc.constantFrom(...'aZ09-_./:@*+=?%~'.split(''))), maxLength: 40 })
const long = fc.integer({ min: 41, max: 3000 }).chain((n) => fc.constantFrom('a'.repeat(n), `${'a'.repeat(n)}\nbind :1`, '9'.repeat(n)))

function hostile(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 3, arbitrary: fc.tuple(valid, metachar, fc.oneof(valid, hostileChars)).map(([a, m, b]) => `${a}${m}${b}`) },
    { weight: 1, arbitrary: fc.tuple(metachar, valid).map(([m, a]) => `${m}${a}${m}`) },
    { weight: 2, arbitrary: hostileChars },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
    { weight: 1, arbitrary: long },
  )
}

const nameChars = fc.constantFrom(...'abcxyzABZ0189_-'.split(''))
const validName = fc.tuple(fc.constantFrom(...'abz09AZ'.split('')), fc.string({ unit: nameChars, maxLength: 45 })).map(([a, b]) => a + b)
const validPort = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(1, 80, 8080, 8404, 65535)).map(String)
const number = fc.oneof(
  validPort,
  fc.integer({ min: -70000, max: 140000 }).map(String),
  fc.tuple(fc.constantFrom('0', '00', '+', '-', ' ', '\t', '0x', '１'), validPort).map(([a, b]) => a + b),
  fc.tuple(validPort, fc.constantFrom('.0', 'e3', 'e-1', ' #', '\n', 'px', '_000', '٠')).map(([a, b]) => a + b),
  fc.constantFrom('', ' ', '0', '-0', 'NaN', 'Infinity', '1e3', '0x50', '0o17', '0b1', '1_000', '２', '٣', '99999999999999999999', '65536', '101', '3601'),
)
const pathChars = fc.constantFrom(...'abzAZ09._~/%?&=+-'.split(''))
const validPath = fc.string({ unit: pathChars, maxLength: 60 }).map((p) => `/${p}`)
const imageComponent = fc.stringMatching(/^[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}$/)
const validImage = fc
  .tuple(
    fc.option(fc.constantFrom('registry.example.com:5000/', 'localhost/', 'r.io/')),
    imageComponent,
    fc.option(imageComponent),
    fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/)),
  )
  .map(([registry, a, b, tag]) => `${registry ?? ''}${a}${b ? `/${b}` : ''}${tag ? `:${tag}` : ''}`)
const validNetwork = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/)

const INPUTS: [string, fc.Arbitrary<string>, Record<string, string>?][] = [
  ['instance-prefix', hostile(validName)],
  ['lb-name', hostile(validName)],
  ['instances', hostile(number)],
  ['instance-port', hostile(number)],
  ['lb-port', hostile(number), { 'external-network': 'routable' }],
  ['lb-port', hostile(number), { 'external-network': '' }],
  ['wait-timeout', hostile(number)],
  ['image', hostile(validImage)],
  ['haproxy-image', hostile(validImage)],
  ['external-network', hostile(validNetwork)],
  ['health-check-path', hostile(validPath)],
  ['protocol', hostile(fc.constantFrom('http', 'tcp'))],
  ['tls-verify', hostile(fc.constantFrom('true', 'false'))],
  ['command', hostile(fc.constantFrom('deploy', 'teardown'))],
]

describe("every input refuses hostile values or yields a configuration with only the generator's lines", () => {
  for (const [input, arbitrary, context] of INPUTS) {
    it(`${input}${context ? ` with ${JSON.stringify(context)}` : ''}`, () => {
      fc.assert(
        fc.property(arbitrary, (value) => checkValue(input, value, context)),
        { numRuns: 300 },
      )
    })
  }

  it('several hostile inputs at once', () => {
    const record = fc.record({
      'instance-prefix': hostile(validName),
      'instance-port': hostile(number),
      'lb-port': hostile(number),
      'external-network': fc.oneof(fc.constant(''), hostile(validNetwork)),
      'health-check-path': fc.oneof(fc.constant(''), hostile(validPath)),
      protocol: fc.constantFrom('http', 'tcp'),
      instances: hostile(number),
    })
    fc.assert(
      fc.property(record, (values) => {
        const [first, ...rest] = Object.entries(values)
        checkValue(first[0], first[1], Object.fromEntries(rest))
      }),
      { numRuns: 500 },
    )
  })

  it('docker-host (a secret) is refused without being repeated, or is one host and port', () => {
    const host = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?$/)
    const validHost = fc
      .tuple(fc.constantFrom('', 'tcp://', 'http://', 'https://', 'unix://'), host, fc.option(validPort))
      .map(([scheme, h, port]) => (scheme === 'unix://' ? `unix:///${h}.sock` : `${scheme}${h}${port ? `:${port}` : ''}`))
    fc.assert(
      fc.property(hostile(validHost), (value) => {
        let target
        try {
          target = resolveTarget(value.trim(), { verify: true }, {})
        } catch (error) {
          expectSafeRefusal(error, value, true)
          return
        }
        const c = target.connection
        if ('socketPath' in c) return
        expect(c.host).toMatch(/^[^\s\p{Cc}/@?#]+$/u)
        expect(c.port).toBeGreaterThanOrEqual(1)
        expect(c.port).toBeLessThanOrEqual(65535)
      }),
      { numRuns: 500 },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// The instances' inputs never reach the HAProxy configuration, and never come back in an error.

const DIRECTIVES = [
  'bind :1',
  'server evil 10.0.0.1:80',
  'use_backend x',
  'frontend f',
  '    option httpchk',
  '$(rm -rf /)',
  '`id`',
  '; reboot',
  '&& curl x | sh',
  '${IFS}',
  '"$HOME"',
  "'x'",
  '\\',
  '%0A',
  '::add-mask::x',
  '::error::x',
]
const envKey = fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/), fc.constantFrom('PATH', 'bind', 'server', '_', 'LD_PRELOAD'), hostileChars)
const envValue = fc.oneof(hostileChars, fc.constantFrom(...DIRECTIVES), fc.string({ unit: 'grapheme', maxLength: 20 }), long)
const envLine = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom('', '  ', '\t'), envKey, envValue).map(([indent, k, v]) => `${indent}${k}=${v}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '# comment', '  # indented comment', ...DIRECTIVES) },
  { weight: 1, arbitrary: hostileChars },
)
const envText = fc.array(envLine, { maxLength: 8 }).chain((lines) => fc.constantFrom('\n', '\r\n').map((eol) => lines.join(eol)))

// The configuration of the same deployment without these inputs: they must not change it.
const plainConfig = configOf(readInputs(readerOf(BASE)).deploy!)

function instanceInput(input: string, value: string, secret = false): DeploySettings | undefined {
  try {
    return readInputs(readerOf({ ...BASE, [input]: value })).deploy
  } catch (error) {
    expectSafeRefusal(error, value, secret)
    return undefined
  }
}

describe('basic-auth and allow-cidrs refuse hostile values or reach the configuration as data', () => {
  const credentialLine = fc
    .tuple(fc.oneof(validName, hostileChars), fc.constantFrom(':', '', '::'), fc.oneof(fc.string({ minLength: 8, maxLength: 40 }), hostileChars))
    .map(([user, colon, password]) => `${user}${colon}${password}`)

  it('basic-auth (a secret): refused naming a line and showing none, or only digests reach the configuration', () => {
    fc.assert(
      fc.property(hostile(fc.array(credentialLine, { minLength: 1, maxLength: 4 }).map((lines) => lines.join('\n'))), (value) => {
        const settings = instanceInput('basic-auth', value, true)
        if (!settings) {
          let message = ''
          try {
            readInputs(readerOf({ ...BASE, 'basic-auth': value }))
          } catch (error) {
            message = (error as Error).message
          }
          expect(message).toMatch(/^Invalid basic-auth(, line [0-9]+)?: /)
          for (const line of value.split(/\r?\n/)) if (line.length >= 8) expect(message).not.toContain(line)
          return
        }
        if (!settings.basicAuth) return
        const config = configOf(settings)
        for (const { password } of settings.basicAuth) expect(config).not.toContain(password)
        expect(config.match(/^ {4}acl known_credentials var\(txn\.basic_auth_digest\) -m str [0-9A-F]{64}$/gm)).toHaveLength(settings.basicAuth.length)
        accepted.set(config, `basic-auth with ${settings.basicAuth.length} users`)
      }),
      { numRuns: 300 },
    )
  })

  it('allow-cidrs: refused naming an entry, or each entry one address with its prefix length in range', () => {
    const cidr = fc
      .tuple(fc.oneof(fc.ipV4(), fc.ipV6(), hostileChars), fc.option(fc.oneof(fc.integer({ min: -1, max: 130 }).map(String), hostileChars)))
      .map(([address, prefix]) => (prefix === null ? address : `${address}/${prefix}`))
    fc.assert(
      fc.property(
        hostile(fc.array(cidr, { minLength: 1, maxLength: 4 }).map((entries) => entries.join(', '))),
        fc.constantFrom('http', 'tcp'),
        (value, protocol) => {
          let settings: DeploySettings | undefined
          try {
            settings = readInputs(readerOf({ ...BASE, protocol, 'allow-cidrs': value })).deploy
          } catch (error) {
            expectSafeRefusal(error, value)
            expect((error as Error).message).toMatch(/^Invalid allow-cidrs(, entry [0-9]+)?: /)
            return
          }
          if (!settings?.allowCidrs) return
          for (const entry of settings.allowCidrs) expect(entry).toMatch(/^[0-9A-Fa-f:.]+(\/(0|[1-9][0-9]{0,2}))?$/)
          const config = configOf(settings)
          expect(config.match(/^ {4}acl allowed_source src \S+$/gm)).toHaveLength(settings.allowCidrs.length)
          accepted.set(config, `allow-cidrs=${JSON.stringify(value)}`)
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe("the instances' inputs refuse hostile values or pass them through as data", () => {
  it.each(['env', 'secret-env'])('%s: every accepted line is exactly one variable; a refusal names a line and shows no value', (input) => {
    fc.assert(
      fc.property(envText, (text) => {
        let settings: DeploySettings | undefined
        try {
          settings = readInputs(readerOf({ ...BASE, [input]: text })).deploy!
        } catch (error) {
          expectSafeRefusal(error, text)
          const message = (error as Error).message
          expect(message).toMatch(new RegExp(`^Invalid ${input}, line [0-9]+: `))
          for (const line of text.split(/\r?\n/)) {
            const value = line.slice(line.indexOf('=') + 1)
            if (value.trim().length >= 6) expect(message, 'a refusal shows a value').not.toContain(value.trim())
          }
          return
        }
        const vars = input === 'env' ? settings.instanceConfig.env : settings.instanceConfig.secretEnv
        const meant = text
          .split(/\r?\n/)
          .map((line) => line.replace(/^[ \t]+/, ''))
          .filter((line) => line.trim() !== '' && !line.startsWith('#'))
        expect(vars.map((v) => `${v.key}=${v.value}`)).toEqual(meant)
        for (const v of vars) expect(v.key).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/)
        expect(configOf(settings)).toBe(plainConfig)
      }),
      { numRuns: 400 },
    )
  })

  it('instance-command: refused safely, or the words as given with no NUL', () => {
    const word = fc.oneof(fc.stringMatching(/^[a-z0-9:./-]{1,10}$/), fc.constantFrom(...DIRECTIVES), hostileChars)
    const command = fc.oneof(
      fc.array(word, { minLength: 1, maxLength: 5 }).map((words) => words.join(' ')),
      fc.array(word, { maxLength: 5 }).map((words) => JSON.stringify(words)),
      fc.array(fc.oneof(word, fc.integer()), { maxLength: 3 }).map((words) => JSON.stringify(words)),
      hostile(fc.constantFrom('gunicorn app:app', '["npm","start"]')),
    )
    fc.assert(
      fc.property(command, (value) => {
        const settings = instanceInput('instance-command', value)
        if (!settings) return
        const args = settings.instanceConfig.command
        if (!value.trim()) {
          expect(args).toBeUndefined()
          return
        }
        expect(args!.length).toBeGreaterThan(0)
        for (const arg of args!) expect(arg).not.toContain('\0')
        if (!value.trim().startsWith('['))
          expect(args!.join(' ')).toBe(
            value
              .trim()
              .split(/[ \t]+/)
              .join(' '),
          )
        expect(configOf(settings)).toBe(plainConfig)
      }),
      { numRuns: 400 },
    )
  })

  it('instance-memory, instance-cpus and pull: refused safely, or a value in range', () => {
    const memory = hostile(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.constantFrom('k', 'm', 'g', 'M', 'G', '', 'b', 'mb')).map(([n, u]) => `${n}${u}`))
    const cpus = hostile(fc.oneof(fc.double({ min: 0, max: 300, noNaN: true }).map(String), fc.constantFrom('0.5', '1', '2', '0.01')))
    fc.assert(
      fc.property(memory, cpus, hostile(fc.constantFrom('always', 'missing', 'never')), (m, c, p) => {
        const withMemory = instanceInput('instance-memory', m)?.instanceConfig.memoryBytes
        if (withMemory !== undefined) expect(withMemory >= 6 * 1024 ** 2 && withMemory <= 1024 ** 4).toBe(true)
        const withCpus = instanceInput('instance-cpus', c)?.instanceConfig.cpus
        if (withCpus !== undefined) expect(withCpus >= 0.01 && withCpus <= 256).toBe(true)
        const pull = instanceInput('pull', p)?.pull
        if (pull !== undefined) expect(['always', 'missing', 'never']).toContain(pull)
      }),
      { numRuns: 400 },
    )
  })

  it('lb-certificate (a secret): anything but a matching certificate and key is refused without showing any of it', () => {
    const pemLike = fc
      .tuple(fc.constantFrom('CERTIFICATE', 'PRIVATE KEY', 'RSA PRIVATE KEY', 'ENCRYPTED PRIVATE KEY'), fc.base64String({ maxLength: 200 }), metachar)
      .map(([label, body, m]) => `-----BEGIN ${label}-----\n${body}${m}\n-----END ${label}-----\n`)
    fc.assert(
      fc.property(hostile(fc.array(pemLike, { minLength: 1, maxLength: 3 }).map((parts) => parts.join(''))), (value) => {
        const settings = instanceInput('lb-certificate', value, true)
        if (!value.trim()) {
          expect(settings?.certificate).toBeUndefined()
          return
        }
        expect(settings, 'a made-up PEM was accepted').toBeUndefined()
        let message = ''
        try {
          readInputs(readerOf({ ...BASE, 'lb-certificate': value }))
        } catch (error) {
          message = (error as Error).message
        }
        expect(message).toMatch(/^Invalid lb-certificate: /)
        for (const line of value.split(/\r?\n/)) if (line.trim().length >= 8) expect(message).not.toContain(line.trim())
      }),
      { numRuns: 300 },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// `haproxy -c` on every distinct accepted configuration, many per process: each one's sections
// get a suffix so that they can share one file.

function numbered(config: string, n: number): string {
  return config
    .split('\n')
    .map((line) =>
      line
        .replace(/^(resolvers|frontend|backend) (\S+)$/, `$1 $2_${n}`)
        .replace(/^(\s+default_backend) (\S+)$/, `$1 $2_${n}`)
        .replace(/ resolvers (\S+) /, ` resolvers $1_${n} `),
    )
    .join('\n')
}

describe.each(HAPROXY_VERSIONS)('haproxy $version -c', (haproxy) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-haproxy-'))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('accepts every configuration the properties above produced, with no warning', () => {
    const configs = [...accepted.keys()]
    // Enough values got through for this to mean something.
    expect(configs.length).toBeGreaterThan(150)
    const BATCH = 100
    for (let start = 0; start < configs.length; start += BATCH) {
      const batch = configs.slice(start, start + BATCH)
      const file = path.join(dir, 'batch.cfg')
      fs.writeFileSync(file, batch.map((config, i) => numbered(config, i)).join('\n'))
      if (haproxyCheck(haproxy, file).ok) continue
      // Find the culprit, alone.
      for (const config of batch) {
        fs.writeFileSync(file, config)
        const { ok, output } = haproxyCheck(haproxy, file)
        expect(ok, `haproxy ${haproxy.version} -c refused or warned about the configuration for ${accepted.get(config)}:\n${output}\n${config}`).toBe(true)
      }
    }
  }, 120_000)

  it('catches a configuration the generator did not write (the check itself works)', () => {
    const file = path.join(dir, 'bad.cfg')
    const config = [...accepted.keys()][0].replace(/^ {4}balance roundrobin$/m, '    balance roundrobin\n    bogus-directive on')
    fs.writeFileSync(file, config)
    const { ok, output } = haproxyCheck(haproxy, file)
    expect(ok).toBe(false)
    expect(output).toMatch(/ALERT.*bogus-directive/)
  })
})

// Labels, names and environment reach Docker as JSON through the Engine API. A shell never sees
// them: nothing in src/ can start a process.
describe('no shell between inputs and Docker', () => {
  function sources(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const full = path.join(dir, entry.name)
      return entry.isDirectory() ? sources(full) : entry.name.endsWith('.ts') ? [full] : []
    })
  }

  it('src/ imports neither child_process nor @actions/exec', () => {
    const offenders = sources(path.join(ROOT, 'src')).filter((file) =>
      /from ['"](node:)?child_process['"]|require\(['"](node:)?child_process['"]\)|['"]@actions\/exec['"]/.test(fs.readFileSync(file, 'utf8')),
    )
    expect(offenders).toEqual([])
  })
})
