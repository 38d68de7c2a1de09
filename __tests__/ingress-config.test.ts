import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CERTIFICATE_PATH, CONFIG_ID_HEADER, STATS_CERTIFICATE_PATH, renderHaproxyConfig, type LbConfig } from '../src/haproxy/config'
import { newStatsAuth } from '../src/haproxy/stats-auth'
import { newStatsCertificate } from '../src/haproxy/stats-certificate'
import {
  candidateBackendOf,
  ingressConfigIdOf,
  renderIngressConfig,
  renderIngressConfigToCheck,
  servingBackendOf,
  type IngressConfig,
  type IngressRoute,
} from '../src/ingress/config'
import { defaultOf, readInputs } from '../src/inputs'
import { instanceName } from '../src/names'

// `haproxy -c` of these texts (2.6 and 3.0) is left to the e2e tests of the ingress.

const STATS = { statsAuth: newStatsAuth(), statsCertificate: newStatsCertificate('vic-lb ingress test'), statsCertificateFile: STATS_CERTIFICATE_PATH }

function servers(deployment: string, generation: string, count: number, port = 80) {
  return Array.from({ length: count }, (_, i) => ({ name: instanceName(deployment, generation, i + 1), port }))
}

const WEB: IngressRoute = {
  deployment: 'pr-7',
  hostname: 'pr-7.preview.example.test',
  serving: servers('pr-7', '0123abcd', 2),
  candidates: [],
  healthCheckPath: '/healthz',
  timeouts: { response: 60, tunnel: 3600 },
}
const API: IngressRoute = {
  deployment: 'pr-42',
  hostname: 'api.pr-42.preview.example.test',
  serving: servers('pr-42', 'aaaabbbb', 1, 3000),
  candidates: [],
  healthCheckPath: '',
  timeouts: { response: 300, tunnel: 7200 },
}

const INGRESS: IngressConfig = { listenPort: 8080, servicePort: 80, drainTimeout: 30, routes: [WEB, API], ...STATS }

// The text's sections (blank lines apart), each by its first line, its settings without indent.
function sectionsOf(text: string): Map<string, string[]> {
  return new Map(
    text
      .trimEnd()
      .split('\n\n')
      .map((block) => {
        const [header, ...lines] = block.split('\n')
        return [header, lines.map((line) => line.trim())]
      }),
  )
}

function section(text: string, header: string): string[] {
  const lines = sectionsOf(text).get(header)
  expect(lines, header).toBeDefined()
  return lines!
}

const route = (r: IngressRoute) => `use_backend ${servingBackendOf(r.deployment)} if { var(txn.host) -m str ${r.hostname} }`

describe('renderIngressConfig', () => {
  it('with no route, is a configuration that answers 404 to every request, naming nothing', () => {
    const text = renderIngressConfig({ ...INGRESS, routes: [] })
    expect([...sectionsOf(text).keys()]).toEqual(['global', 'resolvers docker', 'defaults', 'frontend stats', 'frontend service'])
    expect(section(text, 'frontend service')).toEqual([
      'bind :8080',
      'http-request return status 404 content-type text/plain string "No preview here." hdr x-vic-lb-not-routed 1',
    ])
    // Long enough to send a request in.
    expect(section(text, 'defaults')).toContain('timeout client 10s')
    expect(text.endsWith('\n')).toBe(true)
    expect(text).not.toMatch(/\n\n\n|[ \t]\n/)
  })

  it('routes each host name to its deployment, whatever the port or case of the Host header, and every other name to 404', () => {
    const text = renderIngressConfig(INGRESS)
    expect(section(text, 'frontend service')).toEqual([
      'bind :8080',
      'http-request set-var(txn.host) req.hdr(host),lower,field(1,:)',
      'acl routed var(txn.host) -m str api.pr-42.preview.example.test',
      'acl routed var(txn.host) -m str pr-7.preview.example.test',
      'http-request return status 404 content-type text/plain string "No preview here." hdr x-vic-lb-not-routed 1 unless routed',
      'http-request set-header X-Forwarded-Proto http',
      'http-request set-header X-Forwarded-Host %[req.hdr(host)]',
      'http-request set-header X-Forwarded-Port 80',
      'http-request set-header X-Forwarded-For %[src]',
      'http-response set-header Keep-Alive timeout=2',
      'use_backend r:pr-42 if { var(txn.host) -m str api.pr-42.preview.example.test }',
      'use_backend r:pr-7 if { var(txn.host) -m str pr-7.preview.example.test }',
    ])
  })

  it('gives each route a serving backend with its own servers, health check and timeouts', () => {
    const text = renderIngressConfig(INGRESS)
    expect(section(text, 'backend r:pr-7')).toEqual([
      'balance roundrobin',
      'timeout server 60s',
      'timeout tunnel 3600s',
      'http-request disable-l7-retry unless METH_GET',
      'option httpchk',
      'http-check send meth GET uri /healthz',
      'http-check expect status 200-399',
      'server pr-7-0123abcd-1 pr-7-0123abcd-1:80',
      'server pr-7-0123abcd-2 pr-7-0123abcd-2:80',
    ])
    // No health-check-path: a TCP connect check.
    expect(section(text, 'backend r:pr-42')).toEqual([
      'balance roundrobin',
      'timeout server 300s',
      'timeout tunnel 7200s',
      'http-request disable-l7-retry unless METH_GET',
      'server pr-42-aaaabbbb-1 pr-42-aaaabbbb-1:3000',
    ])
  })

  it('shares global, resolvers, defaults and the stats page with the own load-balancer, but for the server timeouts, which are per route', () => {
    const { routes: _routes, drainTimeout: _drain, ...settings } = INGRESS
    const own: LbConfig = {
      ...settings,
      protocol: 'http',
      timeouts: { response: 300, tunnel: 7200, drain: 30 },
      healthCheckPath: '',
      serving: [],
      candidates: [],
    }
    const ownSections = sectionsOf(renderHaproxyConfig(own))
    const sections = sectionsOf(renderIngressConfig(INGRESS))
    for (const header of ['global', 'resolvers docker']) expect(sections.get(header), header).toEqual(ownSections.get(header))
    const statsWithoutId = (lines?: string[]) => lines?.filter((line) => !line.includes(CONFIG_ID_HEADER))
    expect(statsWithoutId(sections.get('frontend stats'))).toEqual(statsWithoutId(ownSections.get('frontend stats')))
    // The client side waits as long as the slowest route's answer may take.
    expect(sections.get('defaults')).toEqual(ownSections.get('defaults')!.filter((line) => !/^timeout (server|tunnel) /.test(line)))
    expect(sections.get('defaults')).toContain('timeout client 300s')
    expect(section(renderIngressConfig({ ...INGRESS, startsAsRoot: true, drainTimeout: 120 }), 'global')).toEqual([
      'log stdout format raw local0',
      'hard-stop-after 120s',
      'user haproxy',
      'group haproxy',
    ])
  })

  it('adds a candidates backend, checked without traffic, only for a route that has candidates', () => {
    const staging = { ...WEB, candidates: servers('pr-7', 'fedc9876', 3) }
    const text = renderIngressConfig({ ...INGRESS, routes: [staging, API] })
    expect(section(text, `backend ${candidateBackendOf('pr-7')}`)).toEqual([
      'balance roundrobin',
      'timeout server 60s',
      'timeout tunnel 3600s',
      'default-server rise 1',
      'http-request disable-l7-retry unless METH_GET',
      'option httpchk',
      'http-check send meth GET uri /healthz',
      'http-check expect status 200-399',
      ...staging.candidates.map((s) => `server ${s.name} ${s.name}:80`),
    ])
    expect(sectionsOf(text).has(`backend ${candidateBackendOf('pr-42')}`)).toBe(false)
    expect(sectionsOf(renderIngressConfig(INGRESS)).has(`backend ${candidateBackendOf('pr-7')}`)).toBe(false)
    for (const [header, lines] of sectionsOf(text)) if (header.startsWith('frontend')) expect(lines.join('\n'), header).not.toContain('c:')
  })

  it('serves HTTPS with the certificate, HTTP/2 offered, and redirects plain HTTP to it', () => {
    const text = renderIngressConfig({ ...INGRESS, listenPort: 8443, servicePort: 443, certificateFile: CERTIFICATE_PATH, redirectListenPort: 8080 })
    const service = section(text, 'frontend service')
    expect(service[0]).toBe(`bind :8443 ssl crt ${CERTIFICATE_PATH} alpn h2,http/1.1`)
    expect(service).toContain('http-request set-header X-Forwarded-Proto https')
    expect(service).toContain('http-request set-header X-Forwarded-Port 443')
    expect(section(text, 'frontend http-redirect')).toEqual([
      'bind :8080',
      'http-request replace-header Host ^(.*?)(:[0-9]+)?$ \\1',
      'http-request redirect scheme https code 301',
    ])
    expect(sectionsOf(renderIngressConfig(INGRESS)).has('frontend http-redirect')).toBe(false)
  })

  it("refuses other sources (403) on a route with allow-cidrs only, in that route's serving backend", () => {
    const allowedSources = ['203.0.113.0/24', '2001:db8::/32']
    const text = renderIngressConfig({
      ...INGRESS,
      certificateFile: CERTIFICATE_PATH,
      redirectListenPort: 8081,
      routes: [{ ...WEB, allowedSources, candidates: servers('pr-7', 'fedc9876', 1) }, API],
    })
    const rules = section(text, 'backend r:pr-7').filter((line) => line.includes('allowed_source'))
    expect(rules).toEqual([...allowedSources.map((cidr) => `acl allowed_source src ${cidr}`), 'http-request deny deny_status 403 unless allowed_source'])
    // Before the request could be sent twice, or at all.
    const lines = section(text, 'backend r:pr-7')
    expect(lines.indexOf('http-request deny deny_status 403 unless allowed_source')).toBeLessThan(
      lines.indexOf('http-request disable-l7-retry unless METH_GET'),
    )
    for (const header of ['backend r:pr-42', 'backend c:pr-7', 'frontend service', 'frontend http-redirect', 'frontend stats'])
      expect(section(text, header).join('\n'), header).not.toContain('allowed_source')
  })

  it('renders the same text whatever order the routes come in, sorted by host name', () => {
    const third: IngressRoute = {
      ...WEB,
      deployment: 'a-first-deployment',
      hostname: 'zz.preview.example.test',
      serving: servers('a-first-deployment', '12345678', 1),
    }
    const routes = [WEB, API, third]
    const text = renderIngressConfig({ ...INGRESS, routes })
    for (const order of [
      [2, 1, 0],
      [1, 2, 0],
      [0, 2, 1],
    ])
      expect(renderIngressConfig({ ...INGRESS, routes: order.map((i) => routes[i]) })).toBe(text)
    const backends = [...sectionsOf(text).keys()].filter((header) => header.startsWith('backend'))
    expect(backends).toEqual(['backend r:pr-42', 'backend r:pr-7', 'backend r:a-first-deployment'])
    expect(section(text, 'frontend service').filter((line) => line.startsWith('use_backend'))).toEqual([route(API), route(WEB), route(third)])
    expect(renderIngressConfig(structuredClone({ ...INGRESS, routes }))).toBe(text)
  })

  it('names itself on every answer of the stats page by a digest that changes when any route does', () => {
    const id = ingressConfigIdOf(INGRESS)
    expect(id).toMatch(/^[0-9a-f]{16}$/)
    expect(section(renderIngressConfig(INGRESS), 'frontend stats')).toContain(`http-after-response set-header ${CONFIG_ID_HEADER} ${id}`)
    expect(ingressConfigIdOf(structuredClone(INGRESS))).toBe(id)
    const changed: IngressRoute[] = [
      { ...WEB, serving: WEB.serving.slice(1) },
      { ...WEB, candidates: servers('pr-7', 'fedc9876', 1) },
      { ...WEB, hostname: 'pr-8.preview.example.test' },
      { ...WEB, healthCheckPath: '/' },
      { ...WEB, timeouts: { ...WEB.timeouts, tunnel: 60 } },
      { ...WEB, allowedSources: ['198.51.100.7'] },
    ]
    const ids = changed.map((web) => ingressConfigIdOf({ ...INGRESS, routes: [web, API] }))
    expect(new Set([id, ...ids]).size).toBe(ids.length + 1)
    expect(ingressConfigIdOf({ ...INGRESS, routes: [WEB] })).not.toBe(id)
  })

  it('has a copy to check before a reload that looks no name up, carries the same id, and is otherwise the same', () => {
    for (const routes of [[], [WEB, API]]) {
      const config = { ...INGRESS, routes }
      const text = renderIngressConfig(config)
      expect(text).toMatch(/ init-addr last,libc,none$/m)
      expect(renderIngressConfigToCheck(config).replace(/ init-addr none$/m, ' init-addr last,libc,none')).toBe(text)
    }
  })
})

describe('ingress backend names', () => {
  it('are the deployment behind r: (serving) and c: (candidates), which readiness finds in the stats CSV', () => {
    expect(servingBackendOf('pr-42')).toBe('r:pr-42')
    expect(candidateBackendOf('pr-42')).toBe('c:pr-42')
  })

  it('are valid HAProxy proxy names, none of a frontend, for every instance-prefix inputs.ts accepts', () => {
    // The deployment readInputs makes of the input's value (trimmed; empty gives the default), if it takes it.
    const deploymentOf = (value: string): string | undefined => {
      try {
        return readInputs((name) => (name === 'instance-prefix' ? value : name === 'image' ? 'nginx:1.27' : defaultOf(name) || undefined), {}).deploy!
          .instancePrefix
      } catch {
        return undefined
      }
    }
    const value = fc.string({ unit: fc.constantFrom(...'aZ09_-.:/ #$"\n\t\u00e9'), minLength: 1, maxLength: 45 })
    let accepted = 0
    fc.assert(
      fc.property(value, (raw) => {
        const deployment = deploymentOf(raw)
        if (deployment === undefined) return
        accepted++
        for (const name of [servingBackendOf(deployment), candidateBackendOf(deployment)]) {
          expect(name).toMatch(/^[A-Za-z0-9_.:-]+$/)
          expect(['service', 'stats', 'http-redirect']).not.toContain(name)
        }
      }),
      { numRuns: 300 },
    )
    expect(accepted).toBeGreaterThan(0)
  })
})

// The renderer writes host names and deployments into the text verbatim, with no escaping: that
// they are checked before (IngressRoute) is what keeps a value from adding or changing a line.
describe('renderIngressConfig: values used verbatim', () => {
  // A host name as the hostname input is to take it (DESIGN.md): labels of 1-63 of [a-z0-9-], not
  // starting or ending with '-', at least two, at most 253 characters in all.
  const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/).filter((l) => l.length <= 63)
  const hostname = fc
    .array(label, { minLength: 2, maxLength: 6 })
    .map((labels) => labels.join('.'))
    .filter((h) => h.length <= 253)
  // An instance-prefix as inputs.ts takes it.
  const deployment = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/)

  const SENTINEL = { deployment: 'sentineldeployment', hostname: 'sentinel.host.test' }
  // Without the config id, a digest of the rest.
  const textOf = (deployment: string, hostname: string) =>
    renderIngressConfig({ ...INGRESS, routes: [{ ...WEB, deployment, hostname, serving: [{ name: 'instance-1', port: 80 }] }] }).replace(
      new RegExp(`(${CONFIG_ID_HEADER}) [0-9a-f]{16}$`, 'm'),
      '$1 id',
    )

  it('puts a checked host name and deployment where the sentinels go, each one word of its line', () => {
    const skeleton = textOf(SENTINEL.deployment, SENTINEL.hostname)
    fc.assert(
      fc.property(deployment, hostname, (name, host) => {
        const text = textOf(name, host)
        expect(text).toBe(skeleton.replaceAll(SENTINEL.deployment, name).replaceAll(SENTINEL.hostname, host))
        const words = text.split('\n').map((line) => line.trim().split(/\s+/))
        expect(words.filter((w) => w.includes(host))).toEqual([
          ['acl', 'routed', 'var(txn.host)', '-m', 'str', host],
          ['use_backend', `r:${name}`, 'if', '{', 'var(txn.host)', '-m', 'str', host, '}'],
        ])
        expect(words.filter((w) => w.includes(`r:${name}`))).toHaveLength(2)
      }),
      { numRuns: 200 },
    )
  })

  it('does not escape a host name: an unchecked one could add a line, which is why IngressRoute requires checked values', () => {
    const text = renderIngressConfig({ ...INGRESS, routes: [{ ...WEB, hostname: 'x.test }\n    use_backend r:other if { always_true' }] })
    expect(text).toContain('\n    use_backend r:other if { always_true')
  })
})
