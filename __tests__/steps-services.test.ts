import { describe, expect, it } from 'vitest'
import type { DeploymentState } from '../src/docker/state'
import { CONFIG_FILE, CONFIG_DIR, renderHaproxyConfig } from '../src/haproxy/config'
import type { ServiceSpec } from '../src/inputs'
import { LABEL } from '../src/labels'
import { planServices, serviceSpecHash, volumeOf } from '../src/services/plan'
import { servicesPlanFor, startServices } from '../src/services/start'
import { retire } from '../src/steps/retire'
import { startAll } from '../src/steps/start'
import { undo } from '../src/steps/undo'
import { FakeHost, contextOf, emptyPlan, lbConfigFor, ownLbOf, recordLog } from './fake-docker-host'

const db: ServiceSpec = { name: 'db', image: 'postgres:16', env: [], secretEnv: [{ key: 'PASSWORD', value: 'pw-1' }], port: 5432, volume: '/data' }
const NONE: DeploymentState = { instances: [], networks: [], services: [], volumes: [] }
const hashOf = (spec: ServiceSpec) => serviceSpecHash(spec, 'sha256:postgres:16')

describe('startServices', () => {
  it('on a first deploy starts the volume, the service and the load-balancer before any instance, and waits for the service through it', async () => {
    recordLog()
    const host = new FakeHost()
    const plan = emptyPlan({ createNetwork: true, lb: 'create', create: [{ name: 'web-g2-1', index: 1 }], serving: [{ name: 'web-g2-1', port: 80 }] })
    const services = planServices('web', [db], new Map([['db', hashOf(db)]]), new Set(), NONE)
    const { ctx, waits } = contextOf(host, plan, { services, settings: { services: [db] } })
    const lbConfig = { ...lbConfigFor(plan), services: services.checked }

    const lb = ownLbOf(ctx, lbConfig, NONE, new Map())
    await startServices(ctx, lb)
    const early = lb.container
    expect(host.calls.filter((c) => c.startsWith('create') || c.startsWith('start'))).toEqual([
      'create network web-net',
      'create web-lb',
      `create volume ${volumeOf('web', db)!.name}`,
      'create web-svc-db',
      'start web-svc-db',
      'start web-lb',
    ])
    expect(waits.map((w) => [w.backend, w.servers, w.throughService])).toEqual([['services', ['db'], false]])
    const spec = host.byName('web-svc-db')!.spec!
    expect(spec).toMatchObject({
      Env: ['PASSWORD=pw-1'],
      Labels: { [LABEL.role]: 'service', [LABEL.service]: 'db', [LABEL.serviceSpec]: hashOf(db) },
      HostConfig: { NetworkMode: 'web-net', Binds: [`${volumeOf('web', db)!.name}:/data`] },
      NetworkingConfig: { EndpointsConfig: { 'web-net': { Aliases: ['db'] } } },
    })
    expect(JSON.stringify(spec.Labels)).not.toContain('pw-1')
    expect(host.byName('web-lb')!.files.get(`${CONFIG_DIR}/${CONFIG_FILE}`)).toContain('backend services\n    server db db:5432\n')

    // The instances' phase starts only the instances: the network and load-balancer are there.
    host.calls = []
    await startAll(ctx, lb, true)
    expect(lb.container).toBe(early)
    expect(host.calls.filter((c) => c.startsWith('create'))).toEqual(['create web-g2-1'])
  })

  it('keeps a running service whose container holds the secret values, replaces one that does not', async () => {
    const host = new FakeHost()
    const labels = { [LABEL.deployment]: 'web', [LABEL.role]: 'service', [LABEL.service]: 'db', [LABEL.serviceSpec]: hashOf(db) }
    host.add({ name: 'web-svc-db', labels, env: ['PASSWORD=pw-1'] })
    const state: DeploymentState = { ...NONE, services: [{ id: 'id-web-svc-db', name: 'web-svc-db', service: 'db', spec: hashOf(db), running: true }] }
    const settings = { ...contextOf(host, emptyPlan()).ctx.settings, services: [db] }
    expect((await servicesPlanFor(host, settings, ['sha256:postgres:16'], state)).keep).toHaveLength(1)
    const changed = { ...settings, services: [{ ...db, secretEnv: [{ key: 'PASSWORD', value: 'pw-2' }] }] }
    expect((await servicesPlanFor(host, changed, ['sha256:postgres:16'], state)).start.map((s) => s.replaces?.id)).toEqual(['id-web-svc-db'])
  })

  it('replaces a service beside its old container, and a failed deploy starts the old one again and removes what it created', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const lb = host.add({ name: 'web-lb', files: new Map([[`${CONFIG_DIR}/${CONFIG_FILE}`, 'old config']]) })
    const old = host.add({ name: 'web-svc-db' })
    const volume = volumeOf('web', db)!
    await host.createVolume(volume.name, 'local', {}, {})
    const state: DeploymentState = {
      ...NONE,
      lb: { id: lb, name: 'web-lb', spec: 'spec-1', running: true },
      services: [{ id: old, name: 'web-svc-db', service: 'db', spec: 'older', running: true }],
      volumes: [{ ...volume, service: 'db' }],
    }
    const plan = emptyPlan()
    const services = planServices('web', [{ ...db, volume: '/moved' }], new Map([['db', 'newer']]), new Set(), state)
    const { ctx } = contextOf(host, plan, { services })
    host.calls = []
    const own = ownLbOf(ctx, { ...lbConfigFor(plan), services: services.checked }, state, new Map([[CONFIG_FILE, 'old config']]))
    await startServices(ctx, own)
    expect(host.calls.filter((c) => /^(create|stop|rename|start|exec|signal)/.test(c))).toEqual([
      `create volume ${volumeOf('web', { ...db, volume: '/moved' })!.name}`,
      'create web-svc-db.next',
      'stop web-svc-db 10s',
      'rename web-svc-db web-svc-db.old',
      'rename web-svc-db.next web-svc-db',
      'start web-svc-db',
      // The kept load-balancer checks and loads the services beside what it serves.
      expect.stringMatching(/^exec web-lb haproxy -c/),
      'signal web-lb SIGUSR2',
    ])
    expect(ctx.record.previousConfig).toMatchObject({ lb, text: 'old config' })

    host.calls = []
    await undo(ctx, own)
    expect(host.calls.filter((c) => !c.startsWith('put'))).toEqual([
      'signal web-lb SIGUSR2',
      'remove web-svc-db',
      `remove volume ${volumeOf('web', { ...db, volume: '/moved' })!.name}`,
      'rename web-svc-db.old web-svc-db',
      'start web-svc-db',
    ])
    expect(host.byName('web-svc-db')).toMatchObject({ id: old, running: true })
    expect(host.volumes.has(volume.name)).toBe(true)
    expect(lines).toContain('Started the previous service web-svc-db again')
  })

  it('after traffic moved removes the replaced and unlisted services and the volumes no service mounts', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const replaced = host.add({ name: 'web-svc-db.old', running: false })
    const gone = host.add({ name: 'web-svc-cache' })
    await host.createVolume('web-svc-db-old', 'local', {}, {})
    const { ctx } = contextOf(host, emptyPlan(), {
      services: {
        keep: [],
        start: [],
        removeFirst: [],
        checked: [],
        removeAfter: [{ id: gone, name: 'web-svc-cache', service: 'cache', spec: 's', running: true }],
        removeVolumesAfter: ['web-svc-db-old'],
      },
    })
    ctx.record.replacedServices.push({ id: replaced, name: 'web-svc-db' })
    host.calls = []
    await retire(ctx, ownLbOf(ctx))
    expect(host.calls).toEqual(['remove web-svc-db.old', 'remove web-svc-cache', 'remove volume web-svc-db-old'])
    expect(lines).toEqual(['Removed web-svc-db (replaced), web-svc-cache, volume web-svc-db-old'])
  })
})

describe('the services backend', () => {
  it('is rendered only with services, TCP-checked and never routed to', () => {
    const plan = emptyPlan({ serving: [{ name: 'web-g2-1', port: 80 }] })
    const without = renderHaproxyConfig(lbConfigFor(plan))
    expect(without).not.toContain('backend services')
    expect(renderHaproxyConfig({ ...lbConfigFor(plan), services: [] })).not.toContain('backend services')
    const withServices = renderHaproxyConfig({ ...lbConfigFor(plan), services: [{ name: 'db', port: 5432 }] })
    expect(withServices.split('backend services')[1]).toBe('\n    server db db:5432\n')
    expect(withServices).not.toMatch(/use_backend services|default_backend services/)
  })
})
