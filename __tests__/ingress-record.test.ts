import { describe, expect, it } from 'vitest'
import { parseRoute, readRoutes, writeRoute } from '../src/ingress/record'
import type { IngressRoute } from '../src/ingress/config'
import { LABEL } from '../src/labels'
import { FakeHost } from './fake-docker-host'

const ROUTE: IngressRoute = {
  deployment: 'pr-7',
  hostname: 'pr-7.preview.example.test',
  serving: [{ name: 'pr-7-0123abcd-1', port: 8080 }],
  candidates: [{ name: 'pr-7-4567cdef-1', port: 8080 }],
  healthCheckPath: '/healthz',
  timeouts: { response: 60, tunnel: 3600 },
  allowedSources: ['10.0.0.0/8'],
}

const text = (change: Record<string, unknown>): string => JSON.stringify({ ...ROUTE, ...change })

describe('parseRoute', () => {
  it('gives back the route a record holds', () => {
    expect(parseRoute(JSON.stringify(ROUTE), 'pr-7')).toEqual(ROUTE)
  })

  // Each value ends up in HAProxy's configuration: one that could add a line is refused, never rendered.
  it.each([
    ['no file', undefined, 'no route file'],
    ['not JSON', '{', 'not JSON'],
    ['another deployment than its label', text({ deployment: 'pr-8' }), 'its deployment does not match its label'],
    ['a hostname with a newline', text({ hostname: 'a.test\n    use_backend x' }), 'invalid hostname'],
    ['an upper-case hostname', text({ hostname: 'PR-7.example.test' }), 'invalid hostname'],
    ['a server name with a space', text({ serving: [{ name: 'a b', port: 80 }] }), 'invalid servers'],
    ['a port out of range', text({ candidates: [{ name: 'pr-7-1', port: 65536 }] }), 'invalid servers'],
    ['a path with a space', text({ healthCheckPath: '/a b' }), 'invalid health-check path'],
    ['a zero timeout', text({ timeouts: { response: 0, tunnel: 1 } }), 'invalid timeouts'],
    ['two networks in one entry', text({ allowedSources: ['10.0.0.0/8 192.168.0.0/16'] }), 'invalid allow-cidrs'],
  ])('refuses %s', (_, record, why) => {
    expect(parseRoute(record, 'pr-7')).toBe(why)
  })
})

describe('route records on the Docker host', () => {
  it('are created once per deployment, rewritten in place and read back for their ingress only', async () => {
    const host = new FakeHost()
    await writeRoute(host, 'previews', ROUTE, 'haproxy:3.2')
    await writeRoute(host, 'previews', { ...ROUTE, candidates: [] }, 'haproxy:3.2')
    await writeRoute(host, 'other', { ...ROUTE, deployment: 'pr-9', hostname: 'pr-9.example.test' }, 'haproxy:3.2')
    expect(host.calls.filter((c) => c.startsWith('create'))).toEqual(['create pr-7-route', 'create pr-9-route'])
    const record = host.byName('pr-7-route')!
    expect(record.running).toBe(false)
    expect(record.labels).toMatchObject({ [LABEL.deployment]: 'pr-7', [LABEL.role]: 'route', [LABEL.ingress]: 'previews', [LABEL.hostname]: ROUTE.hostname })
    expect(await readRoutes(host, 'previews')).toEqual({ routes: [{ ...ROUTE, candidates: [] }], unreadable: [] })
  })

  it('that hold no valid route are named, not rendered', async () => {
    const host = new FakeHost()
    await writeRoute(host, 'previews', ROUTE, 'haproxy:3.2')
    await host.putFile(host.byName('pr-7-route')!.id, '/', 'vic-lb-route.json', text({ hostname: 'x' }))
    expect(await readRoutes(host, 'previews')).toEqual({ routes: [], unreadable: ['pr-7-route (invalid hostname)'] })
  })
})
