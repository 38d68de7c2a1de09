import { describe, expect, it } from 'vitest'
import type { DockerHost } from '../src/docker/deploy-host'
import type { InstanceObject } from '../src/docker/state'
import { CONFIG_FILE } from '../src/haproxy/config'
import { ingressRoute } from '../src/ingress/route'
import { readRoute } from '../src/ingress/record'
import { NotReadyError } from '../src/readiness'
import { FakeHost, contextOf, emptyPlan, recordLog } from './fake-docker-host'

// A routed deployment's part on the shared ingress: its route record, then the configuration of
// every record, each change under the ingress's lock; readiness through the host name.

const ROUTED = { ingress: { name: 'previews', hostname: 'web.preview.example.test' } }
const NONE = { instances: [], networks: [], services: [], volumes: [] }
const old: InstanceObject = { id: 'id-web-g1-1', name: 'web-g1-1', generation: 'g1', index: 1, port: 80, running: true }
const CONFIG = `/usr/local/etc/haproxy/${CONFIG_FILE}`

function locking(host: FakeHost) {
  const underLock = async <T>(fn: (h: DockerHost) => Promise<T>): Promise<T> => {
    host.calls.push('lock')
    try {
      return await fn(host)
    } finally {
      host.calls.push('unlock')
    }
  }
  return underLock
}

const newGeneration = emptyPlan({
  create: [{ name: 'web-g2-1', index: 1 }],
  serving: [{ name: 'web-g2-1', port: 80 }],
  removeAfter: [old],
})

describe('ingressRoute', () => {
  it('moves traffic through candidates to serving, each change a record write and a checked reload under the lock', async () => {
    recordLog()
    const host = new FakeHost()
    host.add({ name: 'web-g1-1' })
    const underLock = locking(host)
    const first = contextOf(host, emptyPlan({ serving: [{ name: 'web-g1-1', port: 80 }] }), { settings: ROUTED })
    await (await ingressRoute(first.ctx, NONE, underLock)).switchTraffic()

    const { ctx, waits, remembered } = contextOf(host, newGeneration, { settings: ROUTED })
    const route = await ingressRoute(ctx, { ...NONE, instances: [old] }, underLock)
    expect(route.instanceNetworks).toEqual(['previews-net'])
    // Created on it already (no companion services, deploy.ts): nothing to join.
    expect((await ingressRoute({ ...ctx, netName: 'previews-net' }, { ...NONE, instances: [old] }, underLock)).instanceNetworks).toEqual([])
    host.calls = []
    const read = host.getFile.bind(host)
    let recordReads = 0
    host.getFile = async (id, path) => {
      if (path === '/vic-lb-route.json') recordReads++
      return read(id, path)
    }
    const switched = await route.switchTraffic()
    // Each change reads every record once (on Podman the reads run one at a time): here one, twice.
    expect(recordReads).toBe(2)

    const reload = ['lock', 'put web-route /vic-lb-route.json', 'put previews /tmp/haproxy-candidate.cfg']
    expect(host.calls.filter((c) => !c.startsWith('top '))).toEqual([
      ...reload,
      'exec previews haproxy -c -f /tmp/haproxy-candidate.cfg as the container user',
      `put previews ${CONFIG}`,
      'signal previews SIGUSR2',
      'unlock',
      ...reload,
      'exec previews haproxy -c -f /tmp/haproxy-candidate.cfg as the container user',
      `put previews ${CONFIG}`,
      'signal previews SIGUSR2',
      'unlock',
    ])
    // Each reload is waited for under the lock, until the ingress answers with its configuration's id.
    const loadedId = host
      .byName('previews')!
      .files.get(CONFIG)!
      .match(/set-header x-vic-lb-config (\S+)/)![1]
    expect(waits.map((w) => [w.backend, w.servers, w.throughService, w.configId])).toEqual([
      ['r:web', [], false, expect.stringMatching(/^[0-9a-f]+$/)],
      ['c:web', ['web-g2-1'], false, undefined],
      ['r:web', [], false, loadedId],
      ['r:web', ['web-g2-1'], true, undefined],
    ])
    expect(waits[0].configId).not.toBe(loadedId)
    expect(switched.address.url).toBe('http://web.preview.example.test:8081')
    // Before its first change, the post step of a killed run learns which route to put back.
    expect(remembered).toEqual([
      expect.objectContaining({ routeChangedOn: { ingress: 'previews', previous: expect.objectContaining({ serving: [{ name: 'web-g1-1', port: 80 }] }) } }),
    ])
    expect(await readRoute(host, 'web')).toMatchObject({ serving: [{ name: 'web-g2-1', port: 80 }], candidates: [] })
    expect(host.byName('previews')!.files.get(CONFIG)).toContain('server web-g2-1 web-g2-1:80')
    // The summary shows this deployment's route only.
    expect(route.configWithoutSecrets()).toContain('web.preview.example.test')
  })

  it('leaves an unchanged route alone, and puts back the previous one when the deploy is undone', async () => {
    recordLog()
    const host = new FakeHost()
    host.add({ name: 'web-g1-1' })
    const underLock = locking(host)
    const serving = emptyPlan({ serving: [{ name: 'web-g1-1', port: 80 }] })
    await (await ingressRoute(contextOf(host, serving, { settings: ROUTED }).ctx, NONE, underLock)).switchTraffic()
    host.calls = []
    await (await ingressRoute(contextOf(host, serving, { settings: ROUTED }).ctx, { ...NONE, instances: [old] }, underLock)).switchTraffic()
    expect(host.calls.filter((c) => c.startsWith('signal') || c.startsWith('put web-route'))).toEqual([])

    const route = await ingressRoute(contextOf(host, newGeneration, { settings: ROUTED }).ctx, { ...NONE, instances: [old] }, underLock)
    await route.switchTraffic()
    await route.restorePrevious()
    expect(await readRoute(host, 'web')).toMatchObject({ serving: [{ name: 'web-g1-1', port: 80 }], candidates: [] })
    expect(host.byName('previews')!.files.get(CONFIG)).not.toContain('web-g2-1')
  })
})

describe('a first route', () => {
  it('goes to serving at once, in one reload: nothing served the name before', async () => {
    recordLog()
    const host = new FakeHost()
    const underLock = locking(host)
    const { ctx, waits } = contextOf(host, newGeneration, { settings: ROUTED })
    const route = await ingressRoute(ctx, NONE, underLock)
    host.calls = []
    await route.switchTraffic()
    expect(host.calls.filter((c) => c.startsWith('signal'))).toEqual(['signal previews SIGUSR2'])
    expect(waits.map((w) => [w.backend, w.servers.length])).toEqual([
      ['r:web', 0],
      ['r:web', 1],
    ])
  })

  it('is signalled again when the ingress does not show the configuration it was given (a reload HAProxy missed)', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const underLock = locking(host)
    let missed = false
    const { ctx } = contextOf(host, newGeneration, {
      settings: ROUTED,
      ready: async ({ configId }) => {
        if (configId && !missed) {
          missed = true
          throw new NotReadyError('Timed out waiting for the deployment to become ready: the load-balancer has not loaded its new configuration.', [], [])
        }
        return []
      },
    })
    const route = await ingressRoute(ctx, NONE, underLock)
    host.calls = []
    await route.switchTraffic()
    expect(host.calls.filter((c) => c.startsWith('signal') || c === 'unlock')).toEqual(['signal previews SIGUSR2', 'signal previews SIGUSR2', 'unlock'])
    expect(lines).toContain("Ingress 'previews' has not loaded its new configuration after 3 s: signalling it again")
  })

  it("that never becomes healthy shows its instances' logs, not the shared ingress's, which names other deployments", async () => {
    const lines = recordLog()
    const host = new FakeHost()
    host.add({ name: 'web-g2-1' })
    host.byName('web-g2-1')!.logs = 'listening on 8080\n'
    const underLock = locking(host)
    const { ctx } = contextOf(host, newGeneration, {
      settings: ROUTED,
      ready: async ({ servers }) => {
        if (servers.length > 0) throw new NotReadyError('web-g2-1 is not healthy', [], ['web-g2-1'])
        return []
      },
    })
    await expect((await ingressRoute(ctx, NONE, underLock)).switchTraffic()).rejects.toThrow('web-g2-1 is not healthy')
    expect(lines.filter((l) => l.startsWith('group:') || l.startsWith('quoted:'))).toEqual([
      'group: Logs of web-g2-1 (not in the load-balancer yet)',
      'quoted: listening on 8080',
    ])
  })
})

describe('a host name', () => {
  it('is served for one deployment only: another is refused before it changes anything, without being named', async () => {
    recordLog()
    const host = new FakeHost()
    const underLock = locking(host)
    await (
      await ingressRoute(contextOf(host, emptyPlan({ serving: [{ name: 'web-g1-1', port: 80 }] }), { settings: ROUTED }).ctx, NONE, underLock)
    ).switchTraffic()
    host.calls = []
    const other = contextOf(host, newGeneration, { settings: { ...ROUTED, instancePrefix: 'shop' } }).ctx
    await expect(ingressRoute(other, NONE, underLock)).rejects.toThrow(
      "Host name web.preview.example.test is served on ingress 'previews' by another deployment already. Choose another hostname, or tear that deployment down first.",
    )
    expect(host.calls).toEqual(['lock', 'unlock'])
  })
})
