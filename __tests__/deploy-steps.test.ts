import { describe, expect, it } from 'vitest'
import { deploySteps } from '../src/deploy'
import type { DeploymentState, InstanceObject } from '../src/docker/state'
import type { ServiceSpec } from '../src/inputs'
import { planServices } from '../src/services/plan'
import { UndoRecord } from '../src/steps/context'
import type { LoadBalancer, Start } from '../src/steps/load-balancer'
import { FakeHost, contextOf, emptyPlan, recordLog } from './fake-docker-host'

// The deploy's steps against a stand-in load-balancer: where its part comes among the steps' own
// (services, release command, instances, retire, undo), in one sequence with the host's calls.

const db: ServiceSpec = { name: 'db', image: 'postgres:16', env: [], secretEnv: [], port: 5432 }
const old: InstanceObject = { id: 'id-web-g1-1', name: 'web-g1-1', generation: 'g1', index: 1, port: 80, running: true }
const NONE: DeploymentState = { instances: [], networks: [], services: [], volumes: [] }

// Says each of its calls into the host's log; a start says each part when the queue runs it.
function stubLoadBalancer(host: FakeHost, instanceNetworks: string[] = []): LoadBalancer {
  const say = (what: string) => async () => void host.calls.push(`lb: ${what}`)
  const start = (what: string): Start => ({ create: say(`create, ${what}`), start: say(what) })
  return {
    startWithServices: () => start('start with services'),
    waitForServices: say('wait for services'),
    startWithInstances: () => start('start with instances'),
    prepareSwitch: say('prepare switch'),
    switchTraffic: async () => {
      host.calls.push('lb: switch traffic')
      return { statuses: [], address: { ip: '192.0.2.10', port: 80, url: 'http://192.0.2.10' } }
    },
    removeReplaced: say('remove replaced'),
    drain: say('drain'),
    restorePrevious: say('restore previous'),
    startReplacedAgain: async () => {
      host.calls.push('lb: start replaced again')
      return []
    },
    instanceNetworks,
    container: 'id-lb',
    configWithoutSecrets: () => 'the configuration',
  }
}

// A redeploy from web-g1-1 to web-g2-1 and web-g2-2, with the release command, one at a time.
function redeploy(host: FakeHost, state: DeploymentState) {
  host.add({ name: 'web-g1-1' })
  const plan = emptyPlan({
    create: [
      { name: 'web-g2-1', index: 1 },
      { name: 'web-g2-2', index: 2 },
    ],
    serving: [
      { name: 'web-g2-1', port: 80 },
      { name: 'web-g2-2', port: 80 },
    ],
    removeAfter: [old],
  })
  const services = planServices('web', [db], new Map([['db', 'spec-db']]), new Set(), state)
  const { ctx } = contextOf(host, plan, { services, settings: { services: [db], releaseCommand: ['migrate'] }, profile: { startsAtOnce: 1 } })
  host.exits.set('web-release-g2', { exitCode: 0 })
  // What the post step would be left, in the same sequence.
  ctx.record = new UndoRecord(ctx.settings, (deploy) => host.calls.push(deploy ? 'remember' : 'settled'))
  return ctx
}

describe('deploySteps', () => {
  it("starts the load-balancer first in the services queue, in the instances' one creates it first and starts it last, waits for the services, prepares the switch while the instances start, and retires around its part", async () => {
    recordLog()
    const host = new FakeHost()
    host.add({ name: 'web-svc-cache' })
    const ctx = redeploy(host, { ...NONE, services: [{ id: 'id-web-svc-cache', name: 'web-svc-cache', service: 'cache', spec: 's', running: true }] })
    host.calls = []
    const result = await deploySteps(ctx, stubLoadBalancer(host))

    expect(host.calls).toEqual([
      // The companion services, checked through the load-balancer.
      'remember',
      'lb: create, start with services',
      'lb: start with services',
      'create web-svc-db',
      'start web-svc-db',
      'lb: wait for services',
      // The release command: after the services, before any instance.
      'remember',
      'create web-release-g2',
      'start web-release-g2',
      'wait web-release-g2',
      'remove web-release-g2',
      // The switch is prepared as the instances' queue begins; the load-balancer is created first in
      // it and started last.
      'lb: prepare switch',
      'lb: create, start with instances',
      'create web-g2-1',
      'start web-g2-1',
      'create web-g2-2',
      'start web-g2-2',
      'lb: start with instances',
      // Traffic moves once all have started; then nothing is left to the post step.
      'lb: switch traffic',
      'settled',
      // Retire: what the load-balancer leaves, the old services, then the drain before the old instances go.
      'lb: remove replaced',
      'remove web-svc-cache',
      'lb: drain',
      'remove web-g1-1',
    ])
    expect(result).toMatchObject({
      ip: '192.0.2.10',
      url: 'http://192.0.2.10',
      lbContainer: 'id-lb',
      instances: ['web-g2-1', 'web-g2-2'],
      config: 'the configuration',
      changed: true,
    })
  })

  it('on a failed instance start, switches nothing and retires nothing: the load-balancer serves as before first, and what it stopped starts again last', async () => {
    recordLog()
    const host = new FakeHost()
    const previous = host.add({ name: 'web-svc-db' })
    const ctx = redeploy(host, { ...NONE, services: [{ id: previous, name: 'web-svc-db', service: 'db', spec: 'older', running: true }] })
    host.fail('start web-g2-2', new Error('OCI runtime create failed'))
    host.calls = []
    await expect(deploySteps(ctx, stubLoadBalancer(host))).rejects.toThrow('Could not start instance web-g2-2: OCI runtime create failed')

    expect(host.calls).toEqual([
      'remember',
      'lb: create, start with services',
      'lb: start with services',
      'create web-svc-db.next',
      'remember',
      'stop web-svc-db 10s',
      'rename web-svc-db web-svc-db.old',
      'rename web-svc-db.next web-svc-db',
      'start web-svc-db',
      'lb: wait for services',
      'remember',
      'create web-release-g2',
      'start web-release-g2',
      'wait web-release-g2',
      'remove web-release-g2',
      'lb: prepare switch',
      'lb: create, start with instances',
      'create web-g2-1',
      'start web-g2-1',
      'create web-g2-2',
      'start web-g2-2',
      'lb: start with instances',
      // The undo.
      'lb: restore previous',
      'remove web-svc-db',
      'remove web-g2-1',
      'remove web-g2-2',
      'rename web-svc-db.old web-svc-db',
      'start web-svc-db',
      'lb: start replaced again',
      'settled',
    ])
  })
  it('once traffic has moved, never undoes it: a failed removal of what it replaced is said, and the deploy returns what serves', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const ctx = redeploy(host, NONE)
    host.fail('remove web-g1-1', new Error('device or resource busy'))
    host.calls = []
    const result = await deploySteps(ctx, stubLoadBalancer(host))

    expect(result.instances).toEqual(['web-g2-1', 'web-g2-2'])
    expect(host.calls.slice(host.calls.indexOf('lb: switch traffic'))).toEqual([
      'lb: switch traffic',
      'settled',
      'lb: remove replaced',
      'lb: drain',
      'remove web-g1-1',
    ])
    expect(lines).toContain(
      'warning: Generation g2 serves, but what it replaced was not all removed: Could not remove old instances: container web-g1-1: device or resource busy. It gets no traffic; the next deploy of the deployment removes it, or remove it by hand.',
    )
  })
  it("connects each new instance to the load-balancer's networks before it starts", async () => {
    recordLog()
    const host = new FakeHost()
    const ctx = redeploy(host, NONE)
    host.calls = []
    await deploySteps(ctx, stubLoadBalancer(host, ['previews-net']))
    const starts = host.calls.filter((c) => /^(create|connect|start) web-g2-/.test(c))
    expect(starts).toEqual([
      'create web-g2-1',
      'connect web-g2-1 to previews-net',
      'start web-g2-1',
      'create web-g2-2',
      'connect web-g2-2 to previews-net',
      'start web-g2-2',
    ])
  })
})
