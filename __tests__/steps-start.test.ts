import { describe, expect, it } from 'vitest'
import type { DeploymentState } from '../src/docker/state'
import { STATS_CERTIFICATE_PATH } from '../src/haproxy/config'
import { startAll } from '../src/steps/start'
import { undo } from '../src/steps/undo'
import { FakeHost, contextOf, emptyPlan, lbConfigFor, ownLbOf, recordLog } from './fake-docker-host'

const NONE: DeploymentState = { instances: [], networks: [], services: [], volumes: [] }
const names = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `web-g2-${i + 1}`, index: i + 1 }))

function freshPlan(n: number) {
  return emptyPlan({ createNetwork: true, lb: 'create', create: names(n), serving: names(n).map((i) => ({ name: i.name, port: 80 })) })
}

describe('startAll', () => {
  it('creates the network, then the load-balancer first and the instances, starts the load-balancer last, no more starts at once than the host takes', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const plan = freshPlan(5)
    const { ctx, remembered } = contextOf(host, plan, { profile: { startsAtOnce: 2 } })
    const own = ownLbOf(ctx, lbConfigFor(plan), NONE)
    await startAll(ctx, own)
    const lb = own.container

    expect(host.containers.get(lb)).toMatchObject({ name: 'web-lb', running: true })
    expect(host.calls[0]).toBe('create network web-net')
    expect(host.calls.filter((c) => c.startsWith('create web-')).map((c) => c.slice(7))).toEqual(['web-lb', ...names(5).map((i) => i.name)])
    expect(host.calls.filter((c) => c.startsWith('start web-')).map((c) => c.slice(6))).toEqual([...names(5).map((i) => i.name), 'web-lb'])
    // The load-balancer is configured before it starts, with its stats page's certificate.
    expect(host.calls.indexOf('put web-lb /usr/local/etc/haproxy/haproxy.cfg')).toBeLessThan(host.calls.indexOf('start web-lb'))
    expect(host.calls.indexOf('put web-lb /usr/local/etc/haproxy/stats.pem')).toBeLessThan(host.calls.indexOf('start web-lb'))
    expect(host.containers.get(lb)!.files.get(STATS_CERTIFICATE_PATH)).toBe(lbConfigFor(plan).statsCertificate.pem)
    expect(host.mostAtOnce).toBe(2)
    expect(ctx.record.createdNetworks).toEqual(['net-web-net'])
    expect(ctx.record.createdContainers).toHaveLength(6)
    expect(ctx.record.changed).toBe(true)
    // The post step knows the run before anything is created.
    expect(remembered[0]).toMatchObject({ deployment: 'web', lbName: 'web-lb' })
    expect(lines).toEqual(['Created network web-net', ...lines.slice(1)])
    expect(lines).toContain('Started load-balancer web-lb')

    const lbSpec = host.containers.get(lb)!.spec!
    expect(lbSpec).toMatchObject({
      Image: 'haproxy:3.0',
      HostConfig: {
        NetworkMode: 'web-net',
        RestartPolicy: { Name: 'unless-stopped' },
        PortBindings: { '8080/tcp': [{ HostPort: '8081' }], '8404/tcp': [{ HostPort: '' }] },
      },
    })
    expect(host.byName('web-g2-3')!.spec).toMatchObject({
      Image: 'nginx:1.27',
      HostConfig: { NetworkMode: 'web-net' },
      NetworkingConfig: { EndpointsConfig: { 'web-net': {} } },
    })
  })

  it('on an external network creates the load-balancer there and connects it to the instance network', async () => {
    recordLog()
    const host = new FakeHost()
    const plan = freshPlan(1)
    const { ctx } = contextOf(host, plan, { settings: { externalNetwork: 'routable' } })
    await startAll(ctx, ownLbOf(ctx, lbConfigFor(plan), NONE))
    const at = (call: string) => host.calls.indexOf(call)
    expect(at('create web-lb')).toBeGreaterThan(0)
    expect(at('connect web-lb to web-net')).toBeGreaterThan(at('create web-lb'))
    expect(at('start web-lb')).toBeGreaterThan(at('connect web-lb to web-net'))
    expect(host.byName('web-lb')!.spec!.HostConfig!.PortBindings).toEqual({ '8080/tcp': [{ HostPort: '' }], '8404/tcp': [{ HostPort: '' }] })
  })

  it('publishes http-redirect-port like lb-port: on the Docker host, or opened on an external network', async () => {
    recordLog()
    for (const [externalNetwork, hostPorts] of [
      ['', ['8443', '8080']],
      ['routable', ['', '']],
    ] as const) {
      const host = new FakeHost()
      const plan = freshPlan(1)
      const { ctx } = contextOf(host, plan, { settings: { externalNetwork, lbPort: 8443, httpRedirectPort: 8080 } })
      await startAll(ctx, ownLbOf(ctx, { ...lbConfigFor(plan), redirectListenPort: 8081 }, NONE))
      const spec = host.byName('web-lb')!.spec!
      expect(Object.keys(spec.ExposedPorts!).sort()).toEqual(['8080/tcp', '8081/tcp', '8404/tcp'])
      expect(spec.HostConfig!.PortBindings).toEqual({
        '8080/tcp': [{ HostPort: hostPorts[0] }],
        '8081/tcp': [{ HostPort: hostPorts[1] }],
        '8404/tcp': [{ HostPort: '' }],
      })
    }
  })

  it('lets every start settle before it fails, and the undo removes exactly what the run created', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const kept = host.add({ name: 'web-g1-1' })
    host.fail('start web-g2-2', Object.assign(new Error('OCI runtime create failed'), { statusCode: 500 }))
    const plan = freshPlan(3)
    const { ctx } = contextOf(host, plan)
    const lb = ownLbOf(ctx, lbConfigFor(plan), NONE)
    await expect(startAll(ctx, lb)).rejects.toThrow('Could not start instance web-g2-2: OCI runtime create failed')
    expect(host.byName('web-g2-3')!.running).toBe(true)

    await undo(ctx, lb)
    expect(host.calls.filter((c) => c.startsWith('remove'))).toEqual([
      'remove web-lb',
      'remove web-g2-1',
      'remove web-g2-2',
      'remove web-g2-3',
      'remove network web-net',
    ])
    expect([...host.containers.keys()]).toEqual([kept])
    expect(lines.at(-1)).toBe('Removed the 5 object(s) this run created')
  })

  it('says which instance could not be created, from which image', async () => {
    recordLog()
    const host = new FakeHost()
    host.fail('create web-g2-1', new Error('No such image: nginx:1.27'))
    const plan = emptyPlan({ create: names(1), serving: [{ name: 'web-g2-1', port: 80 }] })
    const { ctx } = contextOf(host, plan)
    await expect(
      startAll(
        ctx,
        ownLbOf(ctx, lbConfigFor(plan), {
          instances: [],
          lb: { id: 'id-web-lb', name: 'web-lb', spec: 'spec-1', running: true },
          networks: [],
          services: [],
          volumes: [],
        }),
      ),
    ).rejects.toThrow('Could not create instance web-g2-1 from nginx:1.27: No such image: nginx:1.27')
    expect(ctx.record.createdContainers).toEqual([])
  })

  it('starts the load-balancer again when the port the Docker host picked for its stats page is held by another socket', async () => {
    recordLog()
    const host = new FakeHost()
    const picked = 'Error starting userland proxy: listen tcp4 0.0.0.0:32957: bind: address already in use'
    host.fail('start web-lb', Object.assign(new Error(`driver failed programming external connectivity on endpoint web-lb: ${picked}`), { statusCode: 500 }))
    const plan = freshPlan(1)
    const { ctx } = contextOf(host, plan)
    await startAll(ctx, ownLbOf(ctx, lbConfigFor(plan), NONE))
    expect(host.calls.filter((c) => c === 'start web-lb')).toEqual(['start web-lb', 'start web-lb'])
    expect(host.byName('web-lb')!.running).toBe(true)
  })

  it('does not start it again when lb-port itself is taken, and names lb-port', async () => {
    recordLog()
    const host = new FakeHost()
    host.fail(
      'start web-lb',
      Object.assign(new Error('Error starting userland proxy: listen tcp4 0.0.0.0:8081: bind: address already in use'), { statusCode: 500 }),
    )
    const plan = freshPlan(1)
    const { ctx } = contextOf(host, plan)
    await expect(startAll(ctx, ownLbOf(ctx, lbConfigFor(plan), NONE))).rejects.toThrow(/Port 8081 is taken on the Docker host: choose another lb-port/)
    expect(host.calls.filter((c) => c === 'start web-lb')).toEqual(['start web-lb'])
  })

  it('has a replaced load-balancer stand aside: stopped, renamed -old, its name given to the new one; the undo starts it again', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const old = host.add({ name: 'web-lb' })
    host.fail('start web-lb', Object.assign(new Error('driver failed programming external connectivity: port is already allocated'), { statusCode: 500 }))
    const plan = emptyPlan({ lb: 'replace' })
    const { ctx, remembered } = contextOf(host, plan)
    const state: DeploymentState = { instances: [], lb: { id: old, name: 'web-lb', spec: 'spec-0', running: true }, networks: [], services: [], volumes: [] }
    const lb = ownLbOf(ctx, lbConfigFor(plan), state)
    await expect(startAll(ctx, lb)).rejects.toThrow(
      /^Could not start load-balancer web-lb: .*port is already allocated\. Port 8081 is taken on the Docker host: choose another lb-port or stop what uses it\.$/,
    )
    expect(host.calls).toEqual([
      'create web-lb-next',
      'put web-lb-next /usr/local/etc/haproxy/haproxy.cfg',
      'put web-lb-next /usr/local/etc/haproxy/stats.pem',
      'stop web-lb 10s',
      'rename web-lb web-lb-old',
      'rename web-lb-next web-lb',
      'start web-lb',
    ])
    expect(remembered.at(-1)).toMatchObject({ replacedLb: { id: old, name: 'web-lb' } })
    expect(lines).toContain('Stopped load-balancer web-lb to replace it')

    host.calls = []
    await undo(ctx, lb)
    expect(host.calls).toEqual(['remove web-lb', 'rename web-lb-old web-lb', 'start web-lb'])
    expect(host.containers.get(old)).toMatchObject({ name: 'web-lb', running: true })
    expect(lines.slice(-2)).toEqual(['Started the previous load-balancer web-lb again', 'Removed the 1 object(s) this run created'])
  })

  it('removes stopped instances whose names are needed before it starts any', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const dead = host.add({ name: 'web-g2-1', running: false })
    const plan = emptyPlan({ removeFirst: [{ id: dead, name: 'web-g2-1', generation: 'g2', index: 1, port: 80, running: false }], create: names(1) })
    const { ctx } = contextOf(host, plan)
    await startAll(
      ctx,
      ownLbOf(ctx, lbConfigFor(plan), {
        instances: [],
        lb: { id: 'id-web-lb', name: 'web-lb', spec: 'spec-1', running: true },
        networks: [],
        services: [],
        volumes: [],
      }),
    )
    expect(host.calls).toEqual(['remove web-g2-1', 'create web-g2-1', 'start web-g2-1'])
    expect(lines).toEqual(['Removed stopped instances: web-g2-1', 'Started web-g2-1'])
  })

  it('starts nothing once cancelled, and the undo finds nothing to take back', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const plan = freshPlan(2)
    const cancel = new AbortController()
    cancel.abort(new Error('The run was cancelled'))
    const { ctx } = contextOf(host, plan, { signal: cancel.signal })
    const lb = ownLbOf(ctx, lbConfigFor(plan), NONE)
    await expect(startAll(ctx, lb)).rejects.toThrow('The run was cancelled')
    await undo(ctx, lb)
    expect(host.calls).toEqual([])
    expect(lines).toEqual(['This run created nothing'])
  })
})
