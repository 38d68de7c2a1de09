import { describe, expect, it } from 'vitest'
import { ensureIngress, ingressSpecOf, specDifference } from '../src/ingress/ensure'
import { writeRoute } from '../src/ingress/record'
import { CONFIG_FILE } from '../src/haproxy/config'
import { LABEL } from '../src/labels'
import { FakeHost, contextOf, emptyPlan } from './fake-docker-host'

// The shared ingress made by the first deploy that names it, kept as it was by the later ones.

const ROUTED = { ingress: { name: 'previews', hostname: 'pr-7.preview.example.test' }, instancePrefix: 'pr-7' }

function deployOf(host: FakeHost, change: Record<string, unknown> = {}) {
  return contextOf(host, emptyPlan(), { settings: { ...ROUTED, ...change } }).ctx
}

const ROUTE = {
  deployment: 'pr-3',
  hostname: 'pr-3.preview.example.test',
  serving: [{ name: 'pr-3-0123abcd-1', port: 80 }],
  candidates: [],
  healthCheckPath: '/',
  timeouts: { response: 60, tunnel: 3600 },
}

describe('ensureIngress', () => {
  it('makes the ingress and its network on first use, with every route the host records, and says what it made', async () => {
    const host = new FakeHost()
    await writeRoute(host, 'previews', ROUTE, 'haproxy:3.0')
    const { settings, profile } = deployOf(host)
    const made: string[] = []
    host.calls = []
    const ingress = await ensureIngress(host, profile, settings, (id) => made.push(id))

    expect(host.calls).toEqual([
      'create network previews-net',
      'create previews',
      `put previews /usr/local/etc/haproxy/${CONFIG_FILE}`,
      'put previews /usr/local/etc/haproxy/stats.pem',
      'start previews',
    ])
    expect(made).toEqual(['net-previews-net', ingress.id])
    const container = host.byName('previews')!
    expect(container.labels).toMatchObject({ [LABEL.role]: 'ingress', [LABEL.ingress]: 'previews' })
    expect(container.labels).not.toHaveProperty(LABEL.deployment)
    expect(JSON.parse(container.labels![LABEL.ingressSpec]!)).toEqual({
      haproxyImage: 'haproxy:3.0',
      externalNetwork: '',
      lbPort: 8081,
      drainTimeout: settings.timeouts.drain,
    })
    expect(container.spec?.HostConfig?.NetworkMode).toBe('previews-net')
    expect(container.files.get(`/usr/local/etc/haproxy/${CONFIG_FILE}`)).toContain('acl routed var(txn.host) -m str pr-3.preview.example.test')
  })

  it('leaves a running ingress of the same settings as it is', async () => {
    const host = new FakeHost()
    const { settings, profile } = deployOf(host)
    await ensureIngress(host, profile, settings, () => {})
    host.calls = []
    const again = await ensureIngress(host, profile, deployOf(host, { instancePrefix: 'pr-8' }).settings, () => {})
    expect(again.id).toBe(host.byName('previews')!.id)
    expect(host.calls).toEqual([])
  })

  it('starts a stopped ingress again with every route recorded now', async () => {
    const host = new FakeHost()
    const { settings, profile } = deployOf(host)
    await ensureIngress(host, profile, settings, () => {})
    host.byName('previews')!.running = false
    await writeRoute(host, 'previews', ROUTE, 'haproxy:3.0')
    host.calls = []
    await ensureIngress(host, profile, settings, () => {})
    expect(host.calls).toEqual([`put previews /usr/local/etc/haproxy/${CONFIG_FILE}`, 'start previews'])
    expect(host.byName('previews')!.files.get(`/usr/local/etc/haproxy/${CONFIG_FILE}`)).toContain('pr-3.preview.example.test')
  })

  it('refuses a deploy that names other settings for it, before changing anything', async () => {
    const host = new FakeHost()
    const { settings, profile } = deployOf(host)
    await ensureIngress(host, profile, settings, () => {})
    host.calls = []
    await expect(ensureIngress(host, profile, deployOf(host, { lbPort: 443, haproxyImage: 'haproxy:3.2' }).settings, () => {})).rejects.toThrow(
      "Ingress 'previews' serves the previews of several deployments and was made with haproxy-image 'haproxy:3.0', lb-port '8081'; this deploy gives haproxy-image 'haproxy:3.2', lb-port '443'.",
    )
    expect(host.calls).toEqual([])
  })

  it('refuses a container of that name that is not the ingress, naming whose it is', async () => {
    const host = new FakeHost()
    host.add({ name: 'previews', labels: { [LABEL.deployment]: 'previews', [LABEL.role]: 'lb' } })
    const { settings, profile } = deployOf(host)
    await expect(ensureIngress(host, profile, settings, () => {})).rejects.toThrow(
      "A container named previews exists on the Docker host and is not ingress 'previews' (it belongs to deployment 'previews'). Choose another ingress, or remove that container.",
    )
  })
})

describe('specDifference', () => {
  it('names a certificate by its fingerprint only, and nothing when all is the same', () => {
    const host = new FakeHost()
    const plain = ingressSpecOf(deployOf(host).settings)
    const https = ingressSpecOf(deployOf(host, { certificate: { pem: 'SECRET KEY', fingerprint256: 'AB:CD' } }).settings)
    expect(specDifference('previews', plain, plain)).toBeUndefined()
    const said = specDifference('previews', plain, https)!
    expect(said).toContain('made with lb-certificate (none); this deploy gives lb-certificate the certificate of SHA-256 fingerprint AB:CD')
    expect(said).not.toContain('SECRET')
  })
})
