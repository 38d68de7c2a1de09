import { describe, expect, it } from 'vitest'
import { ensureIngress } from '../src/ingress/ensure'
import { writeRoute } from '../src/ingress/record'
import { removeIngress } from '../src/ingress/remove'
import { FakeHost, contextOf, emptyPlan, recordLog } from './fake-docker-host'

// remove-ingress: explicit, refused while deployments are routed unless forced.

async function withIngress(routes: string[]): Promise<FakeHost> {
  const host = new FakeHost()
  const { settings, profile } = contextOf(host, emptyPlan(), { settings: { ingress: { name: 'previews', hostname: 'x.example.test' } } }).ctx
  await ensureIngress(host, profile, settings, () => {})
  for (const deployment of routes)
    await writeRoute(
      host,
      'previews',
      { deployment, hostname: `${deployment}.example.test`, serving: [], candidates: [], healthCheckPath: '/', timeouts: { response: 60, tunnel: 60 } },
      'haproxy:3.0',
    )
  host.calls = []
  return host
}

describe('removeIngress', () => {
  it('removes the ingress and its network when no deployment is routed', async () => {
    const lines = recordLog()
    const host = await withIngress([])
    await removeIngress(host, 'previews', false)
    expect(host.calls).toEqual(['remove previews', 'remove network previews-net'])
    expect(lines).toContain("Removed ingress 'previews'")
  })

  it('refuses while deployments are routed, removing nothing', async () => {
    const host = await withIngress(['pr-1', 'pr-2'])
    await expect(removeIngress(host, 'previews', false)).rejects.toThrow("Ingress 'previews' still routes 2 deployment(s). Nothing was removed.")
    expect(host.calls).toEqual([])
  })

  it('forced, removes the ingress and keeps the routes and the network their instances are on', async () => {
    recordLog()
    const host = await withIngress(['pr-1'])
    await removeIngress(host, 'previews', true)
    expect(host.calls).toEqual(['remove previews'])
    expect(host.byName('pr-1-route')).toBeDefined()
  })

  it('says when there is nothing to remove', async () => {
    const lines = recordLog()
    await removeIngress(new FakeHost(), 'previews', false)
    expect(lines).toContain("Nothing to remove: there is no ingress 'previews' on the Docker host.")
  })
})
