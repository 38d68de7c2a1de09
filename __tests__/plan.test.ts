import { describe, expect, it } from 'vitest'
import type { DeploymentState, InstanceObject } from '../src/docker/state'
import type { InstanceConfig } from '../src/inputs'
import {
  generationOf,
  generationWithSecrets,
  generationsWithSettings,
  holdsValues,
  lbSpecOf,
  planDeploy,
  shortHash,
  type DeployPlan,
  type DesiredDeployment,
} from '../src/plan'
import { instanceName, networkName } from '../src/names'

const IMAGE_A = `sha256:${'a'.repeat(64)}`
const IMAGE_B = `sha256:${'b'.repeat(64)}`
const HAPROXY = `sha256:${'c'.repeat(64)}`

function desired(overrides: Partial<DesiredDeployment> = {}): DesiredDeployment {
  return {
    deployment: 'web',
    generation: generationOf(IMAGE_A, overrides.instancePort ?? 80),
    instances: 3,
    instancePort: 80,
    lbName: 'lb',
    lbSpec: lbSpecOf(HAPROXY, 'routable', 80),
    ...overrides,
  }
}

const empty = (): DeploymentState => ({ instances: [], networks: [], services: [], volumes: [] })

let nextId = 0
const newId = () => `id${String(++nextId).padStart(62, '0')}`

// What the Docker host holds after a plan ran as deploy.ts runs it.
function apply(state: DeploymentState, plan: DeployPlan, want: DesiredDeployment): DeploymentState {
  const removed = new Set([...plan.removeFirst, ...plan.removeAfter].map((i) => i.id))
  const created: InstanceObject[] = plan.create.map(({ name, index }) => ({
    id: newId(),
    name,
    generation: plan.generation,
    index,
    port: want.instancePort,
    running: true,
  }))
  return {
    instances: [...state.instances.filter((i) => !removed.has(i.id)), ...created],
    networks: plan.createNetwork ? [...state.networks, { id: newId(), name: networkName(want.deployment) }] : state.networks,
    lb: plan.lb === 'keep' ? state.lb : { id: newId(), name: want.lbName, spec: want.lbSpec, running: true },
    services: [],
    volumes: [],
  }
}

function deployed(want: DesiredDeployment): DeploymentState {
  return apply(empty(), planDeploy(want, empty()), want)
}

const names = (items: { name: string }[]) => items.map((i) => i.name).sort()
const indexes = (items: { index: number }[]) => items.map((i) => i.index).sort((a, b) => a - b)

// Whatever the starting point, a plan leaves the host exactly as wanted.
function expectConverged(state: DeploymentState, want: DesiredDeployment, plan: DeployPlan): void {
  const after = apply(state, plan, want)
  const { generation } = want
  const wantedNames = Array.from({ length: want.instances }, (_, i) => instanceName(want.deployment, generation, i + 1))
  expect(names(after.instances)).toEqual([...wantedNames].sort())
  expect(after.instances.every((i) => i.running)).toBe(true)
  expect(names(plan.serving)).toEqual([...wantedNames].sort())
  expect(plan.serving.every((s) => s.port === want.instancePort)).toBe(true)
  expect(after.lb).toMatchObject({ name: want.lbName, spec: want.lbSpec, running: true })
  expect(after.networks.map((n) => n.name)).toContain(networkName(want.deployment))
  // Running the same deploy again plans nothing.
  const again = planDeploy(want, after)
  expect(again).toMatchObject({ createNetwork: false, create: [], removeFirst: [], removeAfter: [], lb: 'keep' })
}

describe('planDeploy', () => {
  it('fresh deploy: creates the network, every instance and the load-balancer', () => {
    const want = desired()
    const plan = planDeploy(want, empty())
    expect(plan.createNetwork).toBe(true)
    expect(plan.lb).toBe('create')
    expect(plan.removeFirst).toEqual([])
    expect(plan.removeAfter).toEqual([])
    expect(indexes(plan.create)).toEqual([1, 2, 3])
    for (const { name, index } of plan.create) expect(name).toBe(`web-${plan.generation}-${index}`)
    expect(plan.serving).toEqual(plan.create.map((c) => ({ name: c.name, port: 80 })))
    expectConverged(empty(), want, plan)
  })

  it('same inputs again: nothing to create or remove, the load-balancer is kept', () => {
    const want = desired()
    const state = deployed(want)
    const plan = planDeploy(want, state)
    expect(plan).toMatchObject({ createNetwork: false, create: [], removeFirst: [], removeAfter: [], lb: 'keep' })
    expect(names(plan.serving)).toEqual(names(state.instances))
  })

  it('scale up 3 → 5: creates instances 4 and 5 only', () => {
    const state = deployed(desired({ instances: 3 }))
    const want = desired({ instances: 5 })
    const plan = planDeploy(want, state)
    expect(indexes(plan.create)).toEqual([4, 5])
    expect(plan.removeFirst).toEqual([])
    expect(plan.removeAfter).toEqual([])
    expect(plan.lb).toBe('keep')
    expect(plan.serving).toHaveLength(5)
    expect(plan.generation).toBe(state.instances[0].generation)
    expectConverged(state, want, plan)
  })

  it('scale down 5 → 2: removes 3, 4 and 5 after traffic moved, creates nothing', () => {
    const state = deployed(desired({ instances: 5 }))
    const want = desired({ instances: 2 })
    const plan = planDeploy(want, state)
    expect(plan.create).toEqual([])
    expect(plan.removeFirst).toEqual([])
    expect(indexes(plan.removeAfter)).toEqual([3, 4, 5])
    expect(names(plan.serving)).toEqual(names(state.instances.filter((i) => i.index <= 2)))
    expect(plan.lb).toBe('keep')
    expectConverged(state, want, plan)
  })

  it('a new image ID starts a new generation beside the old one, which goes after the switch', () => {
    const state = deployed(desired())
    const want = desired({ generation: generationOf(IMAGE_B, 80) })
    const plan = planDeploy(want, state)
    expect(plan.generation).not.toBe(state.instances[0].generation)
    expect(indexes(plan.create)).toEqual([1, 2, 3])
    for (const { name } of plan.create) expect(name).toContain(plan.generation)
    expect(names(plan.removeAfter)).toEqual(names(state.instances))
    expect(plan.removeFirst).toEqual([])
    // Nothing old is served by the new configuration.
    for (const s of plan.serving) expect(names(state.instances)).not.toContain(s.name)
    expect(plan.lb).toBe('keep')
    expectConverged(state, want, plan)
  })

  it('a new instance port starts a new generation too', () => {
    const state = deployed(desired())
    const want = desired({ instancePort: 8080 })
    const plan = planDeploy(want, state)
    expect(plan.generation).not.toBe(state.instances[0].generation)
    expect(plan.serving.every((s) => s.port === 8080)).toBe(true)
    expect(names(plan.removeAfter)).toEqual(names(state.instances))
    expectConverged(state, want, plan)
  })

  it('a new image and a new count at once', () => {
    const state = deployed(desired({ instances: 4 }))
    const want = desired({ generation: generationOf(IMAGE_B, 80), instances: 2 })
    const plan = planDeploy(want, state)
    expect(indexes(plan.create)).toEqual([1, 2])
    expect(plan.removeAfter).toHaveLength(4)
    expectConverged(state, want, plan)
  })

  it('a stopped instance of the current generation is removed first and created again', () => {
    const want = desired()
    const state = deployed(want)
    const stopped = state.instances.find((i) => i.index === 2)!
    stopped.running = false
    const plan = planDeploy(want, state)
    expect(plan.removeFirst).toEqual([stopped])
    expect(plan.create).toEqual([{ name: stopped.name, index: 2 }])
    expect(plan.removeAfter).toEqual([])
    expect(plan.lb).toBe('keep')
    expectConverged(state, want, plan)
  })

  it('a stopped instance of an old generation is removed first, not kept until the switch', () => {
    const state = deployed(desired())
    state.instances[0].running = false
    const want = desired({ generation: generationOf(IMAGE_B, 80) })
    const plan = planDeploy(want, state)
    expect(plan.removeFirst).toEqual([state.instances[0]])
    expect(names(plan.removeAfter)).toEqual(names(state.instances.slice(1)))
    expectConverged(state, want, plan)
  })

  it('a stopped instance beyond the new count is removed first', () => {
    const state = deployed(desired({ instances: 3 }))
    const third = state.instances.find((i) => i.index === 3)!
    third.running = false
    const want = desired({ instances: 2 })
    const plan = planDeploy(want, state)
    expect(plan.removeFirst).toEqual([third])
    expect(plan.removeAfter).toEqual([])
    expect(plan.create).toEqual([])
    expectConverged(state, want, plan)
  })

  it('replaces the load-balancer when its spec changed', () => {
    const state = deployed(desired())
    const want = desired({ lbSpec: lbSpecOf(HAPROXY, 'routable', 8080) })
    const plan = planDeploy(want, state)
    expect(plan.lb).toBe('replace')
    expect(plan.create).toEqual([])
    expectConverged(state, want, plan)
  })

  it('replaces a stopped load-balancer', () => {
    const want = desired()
    const state = deployed(want)
    state.lb!.running = false
    expect(planDeploy(want, state).lb).toBe('replace')
    expectConverged(state, want, planDeploy(want, state))
  })

  it('replaces the load-balancer when lb-name changed', () => {
    const state = deployed(desired())
    const want = desired({ lbName: 'front' })
    const plan = planDeploy(want, state)
    expect(plan.lb).toBe('replace')
    expectConverged(state, want, plan)
  })

  it('creates the load-balancer when only instances are left', () => {
    const want = desired()
    const state = deployed(want)
    delete state.lb
    expect(planDeploy(want, state).lb).toBe('create')
  })

  it('creates the network only when the deployment has none by its name', () => {
    const want = desired()
    expect(planDeploy(want, { instances: [], networks: [{ id: 'n1', name: 'web-net' }], services: [], volumes: [] }).createNetwork).toBe(false)
    expect(planDeploy(want, { instances: [], networks: [{ id: 'n1', name: 'other-net' }], services: [], volumes: [] }).createNetwork).toBe(true)
    expect(planDeploy(want, { instances: [], networks: [{ id: 'n1', name: 'web-net2' }], services: [], volumes: [] }).createNetwork).toBe(true)
  })

  it('converges from a messy state: mixed generations, stopped ones and a gap', () => {
    const want = desired({ instances: 4 })
    const generation = generationOf(IMAGE_A, 80)
    const old = generationOf(IMAGE_B, 80)
    const instance = (gen: string, index: number, running = true): InstanceObject => ({
      id: newId(),
      name: instanceName('web', gen, index),
      generation: gen,
      index,
      port: 80,
      running,
    })
    const state: DeploymentState = {
      instances: [instance(generation, 1), instance(generation, 3, false), instance(generation, 7), instance(old, 1), instance(old, 2, false)],
      networks: [{ id: 'n', name: 'web-net' }],
      lb: { id: 'lb1', name: 'lb', spec: want.lbSpec, running: true },
      services: [],
      volumes: [],
    }
    const plan = planDeploy(want, state)
    expect(indexes(plan.create)).toEqual([2, 3, 4])
    expect(names(plan.removeFirst)).toEqual([instanceName('web', generation, 3), instanceName('web', old, 2)].sort())
    expect(names(plan.removeAfter)).toEqual([instanceName('web', generation, 7), instanceName('web', old, 1)].sort())
    // Every object is either kept, removed first or removed after, never two of them.
    const touched = [...plan.removeFirst, ...plan.removeAfter].map((i) => i.id)
    expect(new Set(touched).size).toBe(touched.length)
    expectConverged(state, want, plan)
  })
})

describe('names', () => {
  it('instances are <prefix>-<generation>-<index>, the network <prefix>-net', () => {
    expect(instanceName('pr-42', 'abcd1234', 7)).toBe('pr-42-abcd1234-7')
    expect(networkName('pr-42')).toBe('pr-42-net')
  })

  it('stay a valid DNS label (at most 63 characters) for the longest prefix and 100 instances', () => {
    const prefix = 'p'.repeat(40)
    const plan = planDeploy(desired({ deployment: prefix, instances: 100 }), empty())
    expect(plan.create).toHaveLength(100)
    for (const { name } of [...plan.create, { name: networkName(prefix) }]) {
      expect(name.length).toBeLessThanOrEqual(63)
      expect(name).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*[A-Za-z0-9]$/)
    }
  })

  it('a generation is a short hex hash, the same for the same image and port', () => {
    const generation = generationOf(IMAGE_A, 80)
    expect(generation).toMatch(/^[0-9a-f]{8}$/)
    expect(generationOf(IMAGE_A, 80)).toBe(generation)
    expect(generationOf(IMAGE_B, 80)).not.toBe(generation)
    expect(generationOf(IMAGE_A, 8080)).not.toBe(generation)
  })

  it('generations do not collide when image and port could run together', () => {
    // Hashing a joined string would make ('x1', 80) and ('x', 180) equal.
    expect(generationOf('sha256:x1', 80)).not.toBe(generationOf('sha256:x', 180))
    expect(shortHash(['a', 'b'])).not.toBe(shortHash(['ab']))
  })

  it('the lb spec changes with the HAProxy image, the external network, lb-port and HTTPS', () => {
    const spec = lbSpecOf(HAPROXY, 'routable', 80)
    expect(lbSpecOf(HAPROXY, 'routable', 80, false)).toBe(spec)
    expect(lbSpecOf(HAPROXY, 'routable', 80, true)).not.toBe(spec)
    expect(lbSpecOf(HAPROXY, 'routable', 80)).toBe(spec)
    expect(lbSpecOf(IMAGE_A, 'routable', 80)).not.toBe(spec)
    expect(lbSpecOf(HAPROXY, '', 80)).not.toBe(spec)
    expect(lbSpecOf(HAPROXY, 'routable', 8080)).not.toBe(spec)
    // A redirect port is published like lb-port: adding, changing or dropping it needs a new container.
    const https = lbSpecOf(HAPROXY, 'routable', 443, true)
    expect(lbSpecOf(HAPROXY, 'routable', 443, true, undefined)).toBe(https)
    expect(lbSpecOf(HAPROXY, 'routable', 443, true, 80)).not.toBe(https)
    expect(lbSpecOf(HAPROXY, 'routable', 443, true, 8080)).not.toBe(lbSpecOf(HAPROXY, 'routable', 443, true, 80))
  })
})

describe('instance configuration and the generation', () => {
  const none: InstanceConfig = { env: [], secretEnv: [] }
  const config = (extra: Partial<InstanceConfig>): InstanceConfig => ({ ...none, ...extra })

  it('without any, the generation is what it was before instance configuration existed', () => {
    expect(generationOf(IMAGE_A, 80, none)).toBe(generationOf(IMAGE_A, 80))
    expect(generationOf(IMAGE_A, 80, none)).toBe(shortHash([IMAGE_A, 80]))
  })

  it('changes with env values, secret-env names, command, memory and CPUs, not with secret-env values', () => {
    const base = generationOf(IMAGE_A, 80, config({ env: [{ key: 'A', value: '1' }] }))
    const variants = [
      config({ env: [{ key: 'A', value: '2' }] }),
      config({ env: [{ key: 'A', value: '1 ' }] }),
      config({ env: [{ key: 'B', value: '1' }] }),
      config({ env: [{ key: 'A', value: '1' }], secretEnv: [{ key: 'S', value: 'x' }] }),
      config({ env: [{ key: 'A', value: '1' }], command: ['sh'] }),
      config({ env: [{ key: 'A', value: '1' }], memoryBytes: 512 * 1024 ** 2 }),
      config({ env: [{ key: 'A', value: '1' }], cpus: 0.5 }),
    ].map((c) => generationOf(IMAGE_A, 80, c))
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1)
    const secretA = config({ secretEnv: [{ key: 'S', value: 'one' }] })
    const secretB = config({ secretEnv: [{ key: 'S', value: 'two' }] })
    expect(generationOf(IMAGE_A, 80, secretA)).toBe(generationOf(IMAGE_A, 80, secretB))
  })

  it('with secret-env, keeps the generation whose instances hold the values, else starts one with a nonce', () => {
    const settings = generationOf(IMAGE_A, 80, config({ secretEnv: [{ key: 'S', value: 'x' }] }))
    const running = (generation: string, running = true): InstanceObject => ({
      id: newId(),
      name: instanceName('web', generation, 1),
      generation,
      index: 1,
      port: 80,
      running,
    })
    const state: DeploymentState = {
      instances: [running(`${settings}-aaaaaa`), running(`${settings}-bbbbbb`, false), running(generationOf(IMAGE_B, 80)), running(`${settings}0-cccccc`)],
      networks: [],
      services: [],
      volumes: [],
    }
    expect(generationsWithSettings(state, settings)).toEqual([`${settings}-aaaaaa`])
    expect(generationWithSecrets(settings, `${settings}-aaaaaa`, '123456')).toBe(`${settings}-aaaaaa`)
    expect(generationWithSecrets(settings, undefined, '123456')).toBe(`${settings}-123456`)
    // The kept generation plans nothing; a new one replaces the instances beside the old.
    const want = desired({ generation: `${settings}-aaaaaa`, instances: 1 })
    const kept = planDeploy(want, { ...state, instances: state.instances.slice(0, 1), lb: { id: 'lb1', name: 'lb', spec: want.lbSpec, running: true } })
    expect(kept.create).toEqual([])
    const renewed = planDeploy({ ...want, generation: `${settings}-123456` }, { ...state, instances: state.instances.slice(0, 1) })
    expect(names(renewed.create)).toEqual([instanceName('web', `${settings}-123456`, 1)])
    expect(names(renewed.removeAfter)).toEqual([instanceName('web', `${settings}-aaaaaa`, 1)])
  })

  it('a container environment holds the values only when every one is there exactly', () => {
    const vars = [
      { key: 'S', value: 'a=b c' },
      { key: 'T', value: '' },
    ]
    expect(holdsValues(['PATH=/bin', 'S=a=b c', 'T='], vars)).toBe(true)
    expect(holdsValues(['S=a=b c'], vars)).toBe(false)
    expect(holdsValues(['S=a=b c ', 'T='], vars)).toBe(false)
    expect(holdsValues(['S=a=b', 'T='], vars)).toBe(false)
  })

  it('names with a secret generation stay a valid DNS label for the longest prefix and 100 instances', () => {
    const generation = generationWithSecrets(generationOf(IMAGE_A, 80, config({ secretEnv: [{ key: 'S', value: 'x' }] })), undefined, 'abcdef')
    const name = instanceName('p'.repeat(40), generation, 100)
    expect(name.length).toBeLessThanOrEqual(63)
    expect(name).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*[A-Za-z0-9]$/)
  })
})
