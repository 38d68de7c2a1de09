import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  CANDIDATE_BACKEND,
  SERVING_BACKEND,
  STATS_PATH,
  STATS_PORT,
  configIdOf,
  renderConfigToCheck,
  renderHaproxyConfig,
  type LbConfig,
  type Server,
} from '../src/haproxy/config'
import { basicAuthCheck, basicAuthSaltIn, newBasicAuthSalt, withoutBasicAuthDigests } from '../src/haproxy/basic-auth'
import { newStatsAuth, statsAuthIn, withoutStatsPassword } from '../src/haproxy/stats-auth'
import { instanceName } from '../src/names'
import { generationOf } from '../src/plan'
import { selfSignedPem, statsCertificateIn } from '../test-support/certificate'
import { DEFAULT_TIMEOUTS, HAPROXY_VERSIONS, haproxyCheck, haproxyVersionLine } from '../test-support/haproxy-check'

const STATS_AUTH = newStatsAuth()
// basic-auth of two users, with the characters that would break a configuration line if any reached it.
const BASIC_AUTH = basicAuthCheck('pr-42', newBasicAuthSalt(), [
  { user: 'reviewer', password: 'a long #random $password "with" %[spaces]' },
  { user: 'qa@example.test', password: 'pw:0123456789abcdef' },
])
const ALLOWED_SOURCES = ['203.0.113.0/24', '198.51.100.7', '2001:db8::/32', '::1/128']

// The rendered configuration is checked by the real HAProxy (`haproxy -c`), 2.6 and 3.0, so a line
// either branch does not accept or warns about fails here and not on a VCH.
const dir = mkdtempSync(path.join(tmpdir(), 'haproxy-config-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
// A throw-away test certificate: in the load-balancer it is CERTIFICATE_PATH.
const certificates = Object.fromEntries(
  (['ec', 'rsa'] as const).map((type) => {
    const file = path.join(dir, `${type}.pem`)
    writeFileSync(file, selfSignedPem('preview.example.test', type), { mode: 0o600 })
    return [type, file]
  }),
)

// One load-balancer's stats credentials and certificate: the stats frontend of every variant.
const STATS = { statsAuth: STATS_AUTH, ...statsCertificateIn(dir) }

function servers(deployment: string, imageId: string, port: number, count: number): Server[] {
  const generation = generationOf(imageId, port)
  return Array.from({ length: count }, (_, i) => ({ name: instanceName(deployment, generation, i + 1), port }))
}

const variants: Record<string, LbConfig> = {
  'http, TCP checks, 3 servers': {
    protocol: 'http',
    listenPort: 80,
    servicePort: 80,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '',
    serving: servers('web', 'sha256:a', 80, 3),
    candidates: [],
    ...STATS,
  },
  'http, health-check-path, candidates, port 8080': {
    protocol: 'http',
    listenPort: 8080,
    servicePort: 8080,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '/healthz',
    serving: servers('web', 'sha256:a', 80, 3),
    candidates: servers('web', 'sha256:b', 80, 2),
    ...STATS,
  },
  'http, every path character allowed, 50 servers': {
    protocol: 'http',
    listenPort: 65535,
    servicePort: 65535,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '/v1/health.check~x+y=z-_%20?full=1&fmt=json',
    serving: servers('pr-42', 'sha256:c', 3000, 50),
    candidates: [],
    ...STATS,
  },
  'https (EC key), health-check-path, candidates': {
    protocol: 'http',
    listenPort: 8443,
    servicePort: 8443,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '/healthz',
    certificateFile: certificates.ec,
    serving: servers('web', 'sha256:a', 80, 3),
    candidates: servers('web', 'sha256:b', 80, 2),
    ...STATS,
  },
  'https (RSA key) on port 443': {
    protocol: 'http',
    listenPort: 443,
    servicePort: 443,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '',
    certificateFile: certificates.rsa,
    serving: servers('web', 'sha256:a', 80, 2),
    candidates: [],
    ...STATS,
  },
  'https on 443 with a plain-HTTP redirect from port 80': {
    protocol: 'http',
    listenPort: 443,
    servicePort: 443,
    redirectListenPort: 80,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '/healthz',
    certificateFile: certificates.ec,
    serving: servers('web', 'sha256:a', 80, 2),
    candidates: [],
    ...STATS,
  },
  'https published: 8080 inside for 9443, redirect 8081 inside, longest timeouts': {
    protocol: 'http',
    listenPort: 8080,
    servicePort: 9443,
    redirectListenPort: 8081,
    timeouts: { response: 86400, tunnel: 7 * 86400, drain: 3600 },
    healthCheckPath: '',
    certificateFile: certificates.rsa,
    serving: servers('web', 'sha256:a', 80, 2),
    candidates: [],
    ...STATS,
  },
  'http with basic-auth and allow-cidrs (IPv4 and IPv6)': {
    protocol: 'http',
    listenPort: 8080,
    servicePort: 80,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '/healthz',
    serving: servers('pr-42', 'sha256:m', 80, 2),
    candidates: servers('pr-42', 'sha256:n', 80, 1),
    basicAuth: BASIC_AUTH,
    allowedSources: ALLOWED_SOURCES,
    ...STATS,
  },
  'https with basic-auth, allow-cidrs and a plain-HTTP redirect': {
    protocol: 'http',
    listenPort: 443,
    servicePort: 443,
    redirectListenPort: 80,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '',
    certificateFile: certificates.ec,
    serving: servers('pr-42', 'sha256:m', 80, 2),
    candidates: [],
    basicAuth: BASIC_AUTH,
    allowedSources: ALLOWED_SOURCES,
    ...STATS,
  },
  'tcp with allow-cidrs': {
    protocol: 'tcp',
    listenPort: 5432,
    servicePort: 5432,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '',
    serving: servers('db', 'sha256:o', 5432, 1),
    candidates: [],
    allowedSources: ALLOWED_SOURCES,
    ...STATS,
  },
  'tcp, 1 server, port 5432': {
    protocol: 'tcp',
    listenPort: 5432,
    servicePort: 5432,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '',
    serving: servers('db', 'sha256:d', 5432, 1),
    candidates: [],
    ...STATS,
  },
  'tcp, candidates on another port': {
    protocol: 'tcp',
    listenPort: 6379,
    servicePort: 6379,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '',
    serving: servers('cache', 'sha256:e', 6379, 2),
    candidates: servers('cache', 'sha256:f', 6380, 2),
    ...STATS,
  },
  'http, staging with no server left serving, only candidates': {
    protocol: 'http',
    listenPort: 8080,
    servicePort: 8080,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '/',
    serving: [],
    candidates: servers('web', 'sha256:g', 80, 3),
    ...STATS,
  },
  'http, port 80 with a master started as root, candidates': {
    protocol: 'http',
    listenPort: 80,
    servicePort: 80,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '/healthz',
    serving: servers('web', 'sha256:j', 80, 3),
    candidates: servers('web', 'sha256:k', 80, 3),
    startsAsRoot: true,
    ...STATS,
  },
  'tcp, port 443 with a master started as root': {
    protocol: 'tcp',
    listenPort: 443,
    servicePort: 443,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '',
    serving: servers('tls', 'sha256:l', 8443, 2),
    candidates: [],
    startsAsRoot: true,
    ...STATS,
  },
  'http, old and new generation on different ports, longest names': {
    protocol: 'http',
    listenPort: 1,
    servicePort: 1,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '',
    serving: [...servers('x'.repeat(40), 'sha256:h', 80, 2), ...servers('X_y-'.repeat(10), 'sha256:i', 8080, 100).slice(98)],
    candidates: [],
    ...STATS,
  },
}

interface Section {
  kind: string
  name: string
  lines: string[][]
}

// Sections start at column 0; their settings are indented. Comments and blank lines are skipped.
function sections(text: string): Section[] {
  const result: Section[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trim().startsWith('#')) continue
    const tokens = line.trim().split(/\s+/)
    if (!/^\s/.test(line)) result.push({ kind: tokens[0], name: tokens[1] ?? '', lines: [] })
    else result.at(-1)!.lines.push(tokens)
  }
  return result
}

describe.each(HAPROXY_VERSIONS)('haproxy $version -c', (haproxy) => {
  it(`is HAProxy ${haproxy.version} (${haproxy.command})`, () => {
    expect(haproxyVersionLine(haproxy)).toMatch(new RegExp(`^HAProxy version ${haproxy.version.replace('.', '\\.')}\\.`))
  })

  // The configuration a load-balancer loads, and the copy it checks before a reload (no lookups).
  const rendered = { text: renderHaproxyConfig, 'copy to check': renderConfigToCheck }
  it.each(
    Object.entries(variants).flatMap(([name, config]) => Object.entries(rendered).map(([form, render]) => [`${name} (${form})`, render(config)] as const)),
  )('accepts %s with no warning', (name, text) => {
    const file = path.join(dir, `${haproxy.version}-${name.replace(/[^a-z0-9]+/gi, '-')}.cfg`)
    writeFileSync(file, text)
    const { ok, output, complaints } = haproxyCheck(haproxy, file)
    expect(complaints, output).toEqual([])
    expect(ok, output).toBe(true)
  })

  it('reports a warning (the check itself works)', () => {
    const file = path.join(dir, `${haproxy.version}-warning.cfg`)
    const text = renderHaproxyConfig(variants['tcp, 1 server, port 5432']).replace(/^frontend service$/m, '$&\n    option httplog')
    writeFileSync(file, text)
    const { ok, complaints } = haproxyCheck(haproxy, file)
    expect(ok).toBe(false)
    expect(complaints.join('\n')).toMatch(/\[WARNING\].*'option httplog' not usable/)
  })
})

describe.each(Object.entries(variants))('renderHaproxyConfig: %s', (_, config) => {
  const text = renderHaproxyConfig(config)
  const parsed = sections(text)
  const proxies = parsed.filter((s) => ['frontend', 'backend', 'listen'].includes(s.kind))
  const section = (kind: string, proxy: string) => parsed.find((s) => s.kind === kind && s.name === proxy)

  it('has a copy to check before a reload that looks no name up and is otherwise the same', () => {
    expect(renderConfigToCheck(config).replace(/ init-addr none$/m, ' init-addr last,libc,none')).toBe(text)
  })

  it('starts the master as root only when told, and then runs the workers as haproxy', () => {
    const global = section('global', '')!
    const identity = global.lines.filter((t) => t[0] === 'user' || t[0] === 'group')
    expect(identity).toEqual(
      config.startsAsRoot
        ? [
            ['user', 'haproxy'],
            ['group', 'haproxy'],
          ]
        : [],
    )
  })

  it('ends with a newline and has no trailing whitespace or tabs', () => {
    expect(text.endsWith('\n')).toBe(true)
    for (const line of text.split('\n')) expect(line, JSON.stringify(line)).not.toMatch(/\s$|\t/)
  })

  it('logs to stdout and sets no small maxconn', () => {
    const global = section('global', '')!
    expect(global.lines.some((t) => t[0] === 'log' && t[1] === 'stdout')).toBe(true)
    expect(text).not.toMatch(/\bmaxconn\s+(256|32)\b/)
    expect(global.lines.some((t) => t[0] === 'maxconn')).toBe(false)
  })

  it('health-checks every server through default-server, and disables none', () => {
    const defaults = section('defaults', '')!
    const defaultServer = defaults.lines.find((t) => t[0] === 'default-server')
    expect(defaultServer).toBeDefined()
    expect(defaultServer).toContain('check')
    // An unresolved name must not stop HAProxy from starting.
    expect(defaultServer!.join(' ')).toMatch(/init-addr \S*none/)
    const serverLines = parsed.flatMap((s) => s.lines).filter((t) => t[0] === 'server')
    expect(serverLines).toHaveLength(config.serving.length + config.candidates.length)
    for (const t of serverLines) {
      expect(t).not.toContain('no-check')
      expect(t).not.toContain('disabled')
    }
  })

  it('admits a candidate after one passed check and takes a serving instance back only after two', () => {
    const defaultServer = section('defaults', '')!.lines.find((t) => t[0] === 'default-server')!
    expect(defaultServer.slice(defaultServer.indexOf('rise'), defaultServer.indexOf('rise') + 2)).toEqual(['rise', '2'])
    expect(section('backend', SERVING_BACKEND)!.lines.filter((t) => t[0] === 'default-server')).toEqual([])
    const candidates = section('backend', CANDIDATE_BACKEND)
    expect(candidates?.lines.filter((t) => t[0] === 'default-server')).toEqual(config.candidates.length > 0 ? [['default-server', 'rise', '1']] : undefined)
  })

  it('uses the protocol as mode', () => {
    expect(section('defaults', '')!.lines).toContainEqual(['mode', config.protocol])
  })

  it('gives the frontends and backends distinct names', () => {
    const names = proxies.map((p) => p.name)
    expect(new Set(names).size).toBe(names.length)
    expect(names).toContain('service')
    expect(names).toContain(SERVING_BACKEND)
    expect(SERVING_BACKEND).not.toBe(CANDIDATE_BACKEND)
    expect(['service', 'stats']).not.toContain(SERVING_BACKEND)
    expect(['service', 'stats']).not.toContain(CANDIDATE_BACKEND)
  })

  it('sends traffic to the serving backend only, never to the candidates', () => {
    const service = section('frontend', 'service')!
    // HTTP/2 or HTTP/1.1 over TLS, also with 2.6, which offers HTTP/1.1 alone unless told.
    const bind = config.certificateFile
      ? ['bind', `:${config.listenPort}`, 'ssl', 'crt', config.certificateFile, 'alpn', 'h2,http/1.1']
      : ['bind', `:${config.listenPort}`]
    expect(service.lines).toContainEqual(bind)
    expect(service.lines).toContainEqual(['default_backend', SERVING_BACKEND])
    for (const frontend of parsed.filter((s) => s.kind === 'frontend'))
      for (const tokens of frontend.lines) expect(tokens.join(' '), frontend.name).not.toContain(CANDIDATE_BACKEND)
    expect(text).not.toMatch(/use_backend/)
  })

  it('serves the stats page on STATS_PORT, over TLS with its own certificate', () => {
    const stats = parsed.filter((s) => s.kind === 'frontend' && s.lines.some((t) => t[0] === 'stats' && t[1] === 'enable'))
    expect(stats).toHaveLength(1)
    expect(stats[0].lines).toContainEqual(['bind', `:${STATS_PORT}`, 'ssl', 'crt', config.statsCertificateFile])
    expect(stats[0].lines).toContainEqual(['stats', 'uri', STATS_PATH])
    expect(stats[0].lines).toContainEqual(['mode', 'http'])
  })

  it('requires the generated stats credentials, which the summary never shows', () => {
    expect(statsAuthIn(text)).toEqual(config.statsAuth)
    expect(config.statsAuth.password).toMatch(/^[0-9a-f]{48}$/)
    const shown = withoutStatsPassword(text)
    expect(shown).not.toContain(config.statsAuth.password)
    expect(shown).toContain(`stats auth ${config.statsAuth.user}:(generated`)
    expect(shown.replace(/stats auth .*/, '')).toBe(text.replace(/stats auth .*/, ''))
  })

  it('retries a request on another instance when its connection fails or its instance dies before answering', () => {
    const defaults = section('defaults', '')!.lines.map((t) => t.join(' '))
    expect(defaults).toContain('option redispatch 1')
    expect(defaults).toContain('timeout connect 1s')
    // A health path may take longer than the check interval to answer.
    expect(defaults).toContain('timeout check 2s')
    if (config.protocol === 'http') {
      expect(defaults).toContain('retry-on conn-failure empty-response')
      // Only GET and HEAD are sent twice.
      for (const backend of parsed.filter((s) => s.kind === 'backend'))
        expect(backend.lines.map((t) => t.join(' '))).toContain('http-request disable-l7-retry unless METH_GET')
    } else expect(text).not.toMatch(/retry-on|l7-retry/)
  })

  it('keeps idle HTTP connections longer than it announces (Keep-Alive: timeout=N), and open across a reload', () => {
    const defaults = section('defaults', '')!.lines.map((t) => t.join(' '))
    const service = section('frontend', 'service')!.lines.map((t) => t.join(' '))
    if (config.protocol === 'http') {
      // Longer than a client that ignores the header waits between requests (0.5-5 s in the e2e
      // keep-alive test), and the announced time well inside it.
      const idle = defaults.map((l) => /^timeout http-keep-alive (\d+)s$/.exec(l)?.[1]).find(Boolean)
      expect(idle).toBe('10')
      expect(service).toContain('http-response set-header Keep-Alive timeout=2')
      expect(defaults).toContain('option idle-close-on-response')
    } else expect(text).not.toMatch(/keep-alive|http-response/i)
  })

  it('tells the instances the scheme, host, port and address the client used, replacing what it sent', () => {
    const service = section('frontend', 'service')!.lines.map((t) => t.join(' '))
    const forwarded = service.filter((l) => /X-Forwarded/i.test(l))
    if (config.protocol === 'tcp') return expect(forwarded).toEqual([])
    expect(forwarded).toEqual([
      `http-request set-header X-Forwarded-Proto ${config.certificateFile ? 'https' : 'http'}`,
      'http-request set-header X-Forwarded-Host %[req.hdr(host)]',
      `http-request set-header X-Forwarded-Port ${config.servicePort}`,
      'http-request set-header X-Forwarded-For %[src]',
    ])
    // It would add a second X-Forwarded-For beside the one set.
    expect(text).not.toMatch(/forwardfor/)
  })

  it('takes its timeouts from the configuration: responses, idle tunnels, and the drain after a reload', () => {
    const { response, tunnel, drain } = config.timeouts
    expect(section('global', '')!.lines).toContainEqual(['hard-stop-after', `${drain}s`])
    const defaults = section('defaults', '')!.lines
    for (const [name, seconds] of [
      ['client', response],
      ['server', response],
      ['tunnel', tunnel],
    ] as const)
      expect(defaults).toContainEqual(['timeout', name, `${seconds}s`])
  })

  it('redirects plain HTTP to HTTPS on the service port only when told', () => {
    const redirect = section('frontend', 'http-redirect')
    if (!config.redirectListenPort) return expect(redirect).toBeUndefined()
    // allow-cidrs' refusal of other sources aside (tested below).
    expect(redirect!.lines.map((t) => t.join(' ')).filter((l) => !l.includes('allowed_source'))).toEqual([
      `bind :${config.redirectListenPort}`,
      `http-request replace-header Host ^(.*?)(:[0-9]+)?$ \\1${config.servicePort === 443 ? '' : `:${config.servicePort}`}`,
      'http-request redirect scheme https code 301',
    ])
  })

  it('lists each server once, by its container name, on its own port', () => {
    const expectBackend = (backend: string, list: Server[]) => {
      const found = section('backend', backend)
      if (list.length === 0 && backend === CANDIDATE_BACKEND) return expect(found).toBeUndefined()
      expect(found, backend).toBeDefined()
      const serverLines = found!.lines.filter((t) => t[0] === 'server')
      expect(serverLines.map((t) => t.slice(0, 3))).toEqual(list.map((s) => ['server', s.name, `${s.name}:${s.port}`]))
    }
    expectBackend(SERVING_BACKEND, config.serving)
    expectBackend(CANDIDATE_BACKEND, config.candidates)
  })

  it('checks the health-check-path in every backend, or only connects without one', () => {
    for (const backend of parsed.filter((s) => s.kind === 'backend')) {
      const lines = backend.lines.map((t) => t.join(' '))
      if (config.healthCheckPath) {
        expect(lines).toContain('option httpchk')
        expect(lines.find((l) => l.startsWith('http-check send'))).toMatch(new RegExp(`uri ${config.healthCheckPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`))
        expect(lines.some((l) => /^http-check expect status 2\d\d-3\d\d$/.test(l))).toBe(true)
      } else {
        expect(lines.some((l) => l.startsWith('option httpchk') || l.startsWith('http-check'))).toBe(false)
      }
    }
  })
})

describe('renderHaproxyConfig', () => {
  it('adds the candidates backend only when there are candidates', () => {
    const base = variants['http, TCP checks, 3 servers']
    expect(renderHaproxyConfig(base)).not.toMatch(new RegExp(`^backend ${CANDIDATE_BACKEND}$`, 'm'))
    expect(renderHaproxyConfig({ ...base, candidates: servers('web', 'sha256:z', 80, 1) })).toMatch(new RegExp(`^backend ${CANDIDATE_BACKEND}$`, 'm'))
  })

  it('is deterministic: the same configuration renders the same text (a kept load-balancer compares it)', () => {
    for (const config of Object.values(variants)) expect(renderHaproxyConfig(structuredClone(config))).toBe(renderHaproxyConfig(config))
  })

  it('gives each load-balancer its own stats password', () => {
    expect(newStatsAuth().password).not.toBe(newStatsAuth().password)
  })

  it('changes when the servers change', () => {
    const base = variants['http, TCP checks, 3 servers']
    expect(renderHaproxyConfig({ ...base, serving: base.serving.slice(0, 2) })).not.toBe(renderHaproxyConfig(base))
  })

  it('names itself on every answer of the stats page (readiness waits for it after a reload), by a digest that changes with any other line', () => {
    const configs = Object.values(variants)
    const ids = configs.map(configIdOf)
    configs.forEach((config, i) => {
      const stats = sections(renderHaproxyConfig(config)).find((s) => s.kind === 'frontend' && s.name === 'stats')!
      expect(stats.lines).toContainEqual(['http-after-response', 'set-header', 'x-vic-lb-config', ids[i]])
      expect(ids[i]).toMatch(/^[0-9a-f]{16}$/)
    })
    expect(new Set(ids).size).toBe(configs.length)
    const base = variants['http, TCP checks, 3 servers']
    expect(configIdOf({ ...base, allowedSources: ['203.0.113.0/24'] })).not.toBe(configIdOf(base))
    expect(configIdOf(structuredClone(base))).toBe(configIdOf(base))
  })
})

describe('renderHaproxyConfig: basic-auth and allow-cidrs', () => {
  const http = variants['http with basic-auth and allow-cidrs (IPv4 and IPv6)']
  const https = variants['https with basic-auth, allow-cidrs and a plain-HTTP redirect']
  const frontend = (text: string, name: string): string[] =>
    sections(text)
      .find((s) => s.kind === 'frontend' && s.name === name)!
      .lines.map((l) => l.join(' '))

  it('refuses other sources first (403), then asks for credentials (401), then sets the forwarded headers', () => {
    const lines = frontend(renderHaproxyConfig(http), 'service')
    const at = (start: string) => lines.findIndex((l) => l.startsWith(start))
    expect(lines.filter((l) => l.startsWith('acl allowed_source'))).toEqual(ALLOWED_SOURCES.map((cidr) => `acl allowed_source src ${cidr}`))
    expect(at('http-request deny deny_status 403 unless allowed_source')).toBeGreaterThan(0)
    expect(at('http-request deny')).toBeLessThan(at('http-request set-var-fmt(txn.basic_auth_digest)'))
    expect(at('http-request auth realm pr-42 unless known_credentials')).toBeLessThan(at('http-request del-header Authorization'))
    expect(at('http-request del-header Authorization')).toBeLessThan(at('http-request set-header X-Forwarded-Proto'))
    expect(lines.filter((l) => l.startsWith('acl known_credentials'))).toEqual(
      BASIC_AUTH.digests.map((digest) => `acl known_credentials var(txn.basic_auth_digest) -m str ${digest}`),
    )
  })

  it('holds no password, only the SHA-256 of the salt and user:password, as HAProxy computes it', () => {
    const text = renderHaproxyConfig(http)
    expect(text).not.toContain('random')
    expect(text).not.toContain('0123456789abcdef')
    expect(text).toContain(`http-request set-var-fmt(txn.basic_auth_digest) ${BASIC_AUTH.salt}%[http_auth_user]:%[http_auth_pass]`)
    expect(text).toContain('http-request set-var(txn.basic_auth_digest) var(txn.basic_auth_digest),sha2(256),hex')
    const expected = createHash('sha256').update(`${BASIC_AUTH.salt}qa@example.test:pw:0123456789abcdef`).digest('hex').toUpperCase()
    expect(BASIC_AUTH.digests[1]).toBe(expected)
  })

  it('gives each load-balancer its own salt, read back from its configuration by the next run', () => {
    expect(newBasicAuthSalt()).not.toBe(newBasicAuthSalt())
    expect(basicAuthSaltIn(renderHaproxyConfig(http))).toBe(BASIC_AUTH.salt)
    expect(basicAuthSaltIn(renderHaproxyConfig(variants['http, TCP checks, 3 servers']))).toBeUndefined()
    const other = basicAuthCheck('pr-42', newBasicAuthSalt(), [{ user: 'qa@example.test', password: 'pw:0123456789abcdef' }])
    expect(other.digests[0]).not.toBe(BASIC_AUTH.digests[1])
  })

  it('shows no digest in the summary', () => {
    const shown = withoutBasicAuthDigests(renderHaproxyConfig(http))
    for (const digest of BASIC_AUTH.digests) expect(shown).not.toContain(digest)
    expect(shown.match(/acl known_credentials .* -m str \(salted SHA-256, kept only in the load-balancer\)/g)).toHaveLength(2)
  })

  it('refuses other sources on the redirect too, but asks for credentials only over HTTPS', () => {
    const redirect = frontend(renderHaproxyConfig(https), 'http-redirect')
    expect(redirect).toContain('http-request deny deny_status 403 unless allowed_source')
    expect(redirect.some((l) => l.includes('basic_auth') || l.startsWith('http-request auth'))).toBe(false)
    expect(frontend(renderHaproxyConfig(https), 'service')).toContain('http-request auth realm pr-42 unless known_credentials')
  })

  it('closes a tcp connection from another source at once, and leaves the stats page alone', () => {
    const text = renderHaproxyConfig(variants['tcp with allow-cidrs'])
    expect(frontend(text, 'service')).toContain('tcp-request connection reject unless allowed_source')
    expect(text).not.toContain('http-request deny')
    expect(frontend(text, 'stats').some((l) => l.includes('allowed_source'))).toBe(false)
  })
})
