import { describe, expect, it } from 'vitest'
import type { ServiceObject, VolumeObject } from '../src/docker/state'
import type { ServiceSpec } from '../src/inputs'
import { describeServices, planServices, serviceSpecHash, volumeOf } from '../src/services/plan'

const db: ServiceSpec = {
  name: 'db',
  image: 'postgres:16',
  env: [{ key: 'POSTGRES_DB', value: 'app' }],
  secretEnv: [],
  port: 5432,
  volume: '/var/lib/postgresql/data',
}
const cache: ServiceSpec = { name: 'cache', image: 'redis:7', env: [], secretEnv: [{ key: 'REDIS_PASSWORD', value: 's3cret' }] }

const hashes = (...specs: ServiceSpec[]) => new Map(specs.map((s) => [s.name, serviceSpecHash(s, `sha256:${s.image}`)]))
const running = (spec: ServiceSpec, hash = serviceSpecHash(spec, `sha256:${spec.image}`), up = true): ServiceObject => ({
  id: `id-${spec.name}`,
  name: `web-svc-${spec.name}`,
  service: spec.name,
  spec: hash,
  running: up,
})
const volumeFor = (spec: ServiceSpec): VolumeObject => ({ ...volumeOf('web', spec)!, service: spec.name })

describe('serviceSpecHash', () => {
  it('changes with what the container runs, but not with secret values', () => {
    const base = serviceSpecHash(db, 'sha256:a')
    expect(serviceSpecHash(db, 'sha256:b')).not.toBe(base)
    for (const change of [{ port: 5433 }, { volume: '/data' }, { memoryBytes: 2 ** 30 }, { cpus: 1 }, { command: ['postgres'] }, { env: [] }])
      expect(serviceSpecHash({ ...db, ...change }, 'sha256:a')).not.toBe(base)
    expect(serviceSpecHash(cache, 'x')).toBe(serviceSpecHash({ ...cache, secretEnv: [{ key: 'REDIS_PASSWORD', value: 'other' }] }, 'x'))
    expect(serviceSpecHash(cache, 'x')).not.toBe(serviceSpecHash({ ...cache, secretEnv: [{ key: 'OTHER', value: 's3cret' }] }, 'x'))
  })
})

describe('planServices', () => {
  it('creates every service and its volume on a first deploy, and checks those with a port', () => {
    const plan = planServices('web', [db, cache], hashes(db, cache), new Set(), { services: [], volumes: [] })
    expect(plan.start.map((s) => [s.name, s.volume, s.replaces])).toEqual([
      ['web-svc-db', { ...volumeOf('web', db), create: true }, undefined],
      ['web-svc-cache', undefined, undefined],
    ])
    expect(plan.checked).toEqual([{ name: 'db', port: 5432 }])
    expect(volumeOf('web', db)!.name).toMatch(/^web-svc-db-[0-9a-f]{8}$/)
  })

  it('keeps a running service of the same spec whose container holds its secret values', () => {
    const state = { services: [running(db), running(cache)], volumes: [volumeFor(db)] }
    const plan = planServices('web', [db, cache], hashes(db, cache), new Set(['cache']), state)
    expect([plan.keep.map((s) => s.name), plan.start, plan.removeAfter, plan.removeVolumesAfter]).toEqual([['web-svc-db', 'web-svc-cache'], [], [], []])
    expect(describeServices(plan)).toBe('Services: 2 kept, 0 to start, 0 to replace.')
  })

  it('replaces a service whose spec or secret values changed, keeping its volume', () => {
    const state = { services: [running(db, 'old-hash'), running(cache)], volumes: [volumeFor(db)] }
    const plan = planServices('web', [db, cache], hashes(db, cache), new Set(), state)
    expect(plan.start.map((s) => [s.name, s.volume?.create, s.replaces?.id])).toEqual([
      ['web-svc-db', false, 'id-db'],
      ['web-svc-cache', undefined, 'id-cache'],
    ])
    expect(plan.removeVolumesAfter).toEqual([])
  })

  it('gives a new volume path a new volume and removes the old one after', () => {
    const moved = { ...db, volume: '/data' }
    const plan = planServices('web', [moved], hashes(moved), new Set(), { services: [running(db)], volumes: [volumeFor(db)] })
    expect(plan.start[0]!.volume).toEqual({ ...volumeOf('web', moved), create: true })
    expect(plan.removeVolumesAfter).toEqual([volumeOf('web', db)!.name])
  })

  it('removes a stopped service first, and services no longer listed (with their volumes) after', () => {
    const state = {
      services: [running(db, undefined, false), running(cache), { ...running(db), id: 'aside', name: 'web-svc-db.old' }],
      volumes: [volumeFor(db)],
    }
    const plan = planServices('web', [db], hashes(db), new Set(), state)
    expect(plan.removeFirst.map((s) => s.id)).toEqual(['id-db'])
    expect(plan.start.map((s) => [s.name, s.replaces])).toEqual([['web-svc-db', undefined]])
    expect(plan.removeAfter.map((s) => s.name)).toEqual(['web-svc-cache', 'web-svc-db.old'])
    const none = planServices('web', [], new Map(), new Set(), state)
    expect(none.removeVolumesAfter).toEqual([volumeOf('web', db)!.name])
    expect(describeServices(none)).toBe('Services: 0 kept, 0 to start, 0 to replace, 3 to remove; 1 volume(s) to remove.')
  })
})
