import { describe, expect, it } from 'vitest'
import { LABEL } from '../src/labels'
import { teardown } from '../src/teardown'
import { FakeHost, contextOf, emptyPlan, recordLog } from './fake-docker-host'
import { detectHost } from '../src/docker/host-profile'
import { ensureIngress } from '../src/ingress/ensure'
import { readRoutes, writeRoute } from '../src/ingress/record'

// How a routed deployment's teardown takes the ingress's lock.
const LOCK = { host: detectHost({ ApiVersion: '1.47', Version: '27.5.1' }, {}), image: 'haproxy:3.0', timeoutSeconds: 5 }

const labels = (deployment: string, role: string, owner?: string): Record<string, string> => ({
  [LABEL.deployment]: deployment,
  [LABEL.role]: role,
  ...(owner === undefined ? {} : { [LABEL.owner]: owner }),
})

async function deployed(host: FakeHost, deployment: string, owner?: string): Promise<void> {
  await host.createNetwork(`${deployment}-net`, labels(deployment, 'network', owner))
  host.add({ name: `${deployment}-lb`, labels: labels(deployment, 'lb', owner) })
  host.add({ name: `${deployment}-g1-1`, labels: labels(deployment, 'instance', owner) })
  // Only what the code under test does is recorded.
  host.calls = []
}

describe('teardown', () => {
  it("removes the deployment's containers, then its network, and nothing of other deployments", async () => {
    const lines = recordLog()
    const host = new FakeHost()
    await deployed(host, 'pr-1', 'acme/one')
    await deployed(host, 'pr-2', 'acme/one')
    host.add({ name: 'stranger' })
    expect(await teardown(host, 'pr-1', 'acme/one', LOCK)).toEqual({ removed: ['pr-1-g1-1', 'pr-1-lb', 'pr-1-net'] })
    expect(host.calls).toEqual(['remove pr-1-g1-1', 'remove pr-1-lb', 'remove network pr-1-net'])
    expect(lines).toEqual(["Removed 3 object(s) of deployment 'pr-1': pr-1-g1-1, pr-1-lb, pr-1-net"])
  })

  it('removes the companion services with the containers, and their volumes after the network', async () => {
    recordLog()
    const host = new FakeHost()
    await deployed(host, 'pr-1', 'acme/one')
    host.add({ name: 'pr-1-svc-db', labels: labels('pr-1', 'service', 'acme/one') })
    await host.createVolume('pr-1-svc-db-1a2b3c4d', 'local', {}, labels('pr-1', 'volume', 'acme/one'))
    await host.createVolume('pr-2-svc-db-1a2b3c4d', 'local', {}, labels('pr-2', 'volume', 'acme/one'))
    host.calls = []
    expect((await teardown(host, 'pr-1', 'acme/one', LOCK)).removed).toEqual(['pr-1-g1-1', 'pr-1-lb', 'pr-1-svc-db', 'pr-1-net', 'pr-1-svc-db-1a2b3c4d'])
    expect(host.calls.slice(-2)).toEqual(['remove network pr-1-net', 'remove volume pr-1-svc-db-1a2b3c4d'])
    expect([...host.volumes.keys()]).toEqual(['pr-2-svc-db-1a2b3c4d'])
  })

  it('refuses a deployment whose volume another owner created', async () => {
    recordLog()
    const host = new FakeHost()
    await host.createVolume('pr-1-svc-db-1a2b3c4d', 'local', {}, labels('pr-1', 'volume', 'acme/two'))
    await expect(teardown(host, 'pr-1', 'acme/one', LOCK)).rejects.toThrow(/belongs to acme\/two/)
    expect(host.volumes.size).toBe(1)
  })

  // A run killed while it replaced the load-balancer leaves <lb>-next or <lb>-old beside it; the
  // caller's own lock stays for the caller to release.
  it('removes every load-balancer an interrupted replacement left, and not the lock it runs under', async () => {
    recordLog()
    const host = new FakeHost()
    await deployed(host, 'pr-1', 'acme/one')
    host.add({ name: 'pr-1-lock', labels: labels('pr-1', 'lock', 'acme/one') })
    for (const name of ['pr-1-lb-next', 'pr-1-lb-old']) host.add({ name, labels: labels('pr-1', 'lb', 'acme/one') })
    host.calls = []
    expect(await teardown(host, 'pr-1', 'acme/one', LOCK)).toEqual({ removed: ['pr-1-g1-1', 'pr-1-lb', 'pr-1-lb-next', 'pr-1-lb-old', 'pr-1-net'] })
    expect([...host.containers.values()].map((c) => c.name)).toEqual(['pr-1-lock'])
  })

  // A release command's container that even the killed run's post step could not remove, possibly still running.
  it("removes a release command's container a killed run left", async () => {
    recordLog()
    const host = new FakeHost()
    await deployed(host, 'pr-1', 'acme/one')
    host.add({ name: 'pr-1-release-g2', labels: labels('pr-1', 'release', 'acme/one') })
    expect((await teardown(host, 'pr-1', 'acme/one', LOCK)).removed).toEqual(['pr-1-g1-1', 'pr-1-lb', 'pr-1-release-g2', 'pr-1-net'])
    expect(host.containers.size).toBe(0)
  })

  it("refuses another owner's deployment before removing anything", async () => {
    recordLog()
    const host = new FakeHost()
    await deployed(host, 'pr-42', 'acme/one')
    await expect(teardown(host, 'pr-42', 'acme/two', LOCK)).rejects.toThrow(
      "Deployment 'pr-42' on the Docker host belongs to acme/one, and this teardown is for acme/two",
    )
    expect(host.calls).toEqual([])
    expect(host.containers.size).toBe(2)
  })

  it('removes a deployment from before owner labels, and says whose it was taken to be', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    await deployed(host, 'pr-7')
    expect((await teardown(host, 'pr-7', 'acme/one', LOCK)).removed).toHaveLength(3)
    expect(lines[0]).toBe("Deployment 'pr-7' has no owner label (an earlier version of vic-lb-action created it): acme/one removes it.")
  })

  it('says so when there is nothing to remove', async () => {
    const lines = recordLog()
    expect(await teardown(new FakeHost(), 'pr-9', 'acme/one', LOCK)).toEqual({ removed: [] })
    expect(lines).toEqual(["Nothing to remove: no containers, networks or volumes of deployment 'pr-9' on the Docker host."])
  })

  it('fails naming what it could not remove, and what to do', async () => {
    recordLog()
    const host = new FakeHost()
    await deployed(host, 'pr-1', 'acme/one')
    host.fail('remove network pr-1-net', new Error('network has active endpoints'))
    await expect(teardown(host, 'pr-1', 'acme/one', LOCK)).rejects.toThrow(
      "Teardown of deployment 'pr-1' could not remove: network net-pr-1-net: network has active endpoints. Run teardown again",
    )
  })
  it("of a routed deployment takes its route off the shared ingress first, under the ingress's lock, and leaves the other previews routed", async () => {
    recordLog()
    const host = new FakeHost()
    host.images = ['haproxy:3.0']
    const { settings, profile } = contextOf(host, emptyPlan(), { settings: { ingress: { name: 'previews', hostname: 'pr-1.example.test' } } }).ctx
    await ensureIngress(host, profile, settings, () => {})
    for (const deployment of ['pr-1', 'pr-2'])
      await writeRoute(
        host,
        'previews',
        {
          deployment,
          hostname: `${deployment}.example.test`,
          serving: [{ name: `${deployment}-g1-1`, port: 80 }],
          candidates: [],
          healthCheckPath: '/',
          timeouts: { response: 60, tunnel: 60 },
        },
        'haproxy:3.0',
      )
    await deployed(host, 'pr-1')
    host.containers.delete(host.byName('pr-1-lb')!.id)
    host.calls = []
    expect((await teardown(host, 'pr-1', 'local', LOCK)).removed).toEqual(['pr-1-g1-1', 'pr-1-net'])

    const reloaded = host.calls.indexOf('signal previews SIGUSR2')
    expect(host.calls.slice(0, reloaded + 1).filter((c) => !c.includes('lease'))).toEqual([
      'create previews-lock',
      'remove pr-1-route',
      'put previews /tmp/haproxy-candidate.cfg',
      'exec previews haproxy -c -f /tmp/haproxy-candidate.cfg as the container user',
      'put previews /usr/local/etc/haproxy/haproxy.cfg',
      'signal previews SIGUSR2',
    ])
    expect(host.calls.indexOf('remove pr-1-g1-1')).toBeGreaterThan(reloaded)
    expect((await readRoutes(host, 'previews')).routes.map((r) => r.deployment)).toEqual(['pr-2'])
    const config = host.byName('previews')!.files.get('/usr/local/etc/haproxy/haproxy.cfg')!
    expect(config).toContain('pr-2.example.test')
    expect(config).not.toContain('pr-1')
  })
})
