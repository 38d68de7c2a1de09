import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVchProxy, type VchProxy } from '../../test-support/vch-proxy'
import {
  IMAGES,
  distinctAnswers,
  docker,
  explain,
  haproxyUids,
  localInputs,
  objectsOf,
  removeDeployment,
  requireDockerd,
  runAction,
  uniquePrefix,
  expectTakeOverOfKilledHolder,
} from './harness'

// The action through an endpoint that behaves like a VCH (API 1.25, one network at create, no
// connect while running, slow starts, in-stream pull refusals) and like Docker Engine 29 (API
// 1.44 and up only), with no configuration from the user. The stand-in is a proxy in front of
// dockerd's socket, so these tests run on the docker engine only (and fail on another).
requireDockerd('vch.test.ts')

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

describe('through a VCH-behaving endpoint', () => {
  let proxy: VchProxy
  beforeAll(async () => {
    proxy = await startVchProxy({ mode: 'vch', startDelayMs: 1000, refusePullImages: ['vic-lb-test/refused'] })
  })
  afterAll(() => proxy.close())

  const prefix = uniquePrefix('vch')
  created.push(prefix)
  let inputs: Record<string, string>

  it('detects the VCH, speaks API 1.25 and serves from 3 distinct instances', async () => {
    inputs = await localInputs(prefix, { 'docker-host': proxy.url })
    const run = await runAction(inputs)
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toMatch(/Connected to vSphere Integrated Containers host \(vSphere Integrated Containers .*\), Engine API 1\.25, using 1\.25/)
    expect(run.stdout).toContain('VCH: containers are created on one network each')
    expect((await distinctAnswers(run.outputs.url)).size).toBe(3)
  })

  it('keeps the lease in a never-started lock container: a holder killed on another machine is taken over within 30 s', async () => {
    const leased = uniquePrefix('vchlease')
    created.push(leased)
    await expectTakeOverOfKilledHolder(leased, await localInputs(leased, { 'docker-host': proxy.url, instances: '2' }))
  })

  it('re-runs, scales and tears down as against dockerd', async () => {
    const again = await runAction(inputs)
    expect(again.code, explain(again)).toBe(0)
    expect(again.stdout).toContain('Unchanged')
    const scaled = await runAction({ ...inputs, instances: '4' })
    expect(scaled.code, explain(scaled)).toBe(0)
    expect((await distinctAnswers(scaled.outputs.url, 40)).size).toBe(4)
    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix, 'docker-host': proxy.url })
    expect(down.code, explain(down)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
  })

  it('joins a container network in the order a VCH accepts, serves on port 80 there with the non-root image, and reloads', async () => {
    const ext = uniquePrefix('vchext')
    created.push(ext)
    const network = `${ext}-routable`
    docker('network', 'create', network)
    try {
      const run = await runAction(await localInputs(ext, { 'docker-host': proxy.url, 'external-network': network, 'lb-port': '80', instances: '2' }))
      expect(run.code, explain(run)).toBe(0)
      const address = docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, `${ext}-lb`)
      expect(run.outputs.url).toBe(`http://${address}`)
      expect((await distinctAnswers(run.outputs.url)).size).toBe(2)
      // As in a containerVM only root binds port 80: HAProxy's master starts as root, and the
      // workers, which serve, run as the image's haproxy user (uid 99).
      expect(docker('inspect', '-f', '{{json .HostConfig.Sysctls}}', `${ext}-lb`)).toBe('{"net.ipv4.ip_unprivileged_port_start":"1024"}')
      const uids = haproxyUids(`${ext}-lb`)
      expect(uids.master).toBe(0)
      expect(uids.workers.length).toBeGreaterThan(0)
      expect(new Set(uids.workers)).toEqual(new Set([99]))
      // A new generation goes in through graceful reloads of the same load-balancer, checked first
      // by its own HAProxy (an exec, which a VCH runs as root unless told).
      const next = await runAction(
        await localInputs(ext, { 'docker-host': proxy.url, 'external-network': network, 'lb-port': '80', instances: '2', image: IMAGES.web2 }),
      )
      expect(next.code, explain(next)).toBe(0)
      expect(next.outputs['lb-container']).toBe(run.outputs['lb-container'])
      expect([...(await distinctAnswers(next.outputs.url))].every((answer) => answer.startsWith('200 web v2 '))).toBe(true)
      expect(new Set(haproxyUids(`${ext}-lb`).workers)).toEqual(new Set([99]))
    } finally {
      removeDeployment(ext)
      docker('network', 'rm', network)
    }
  })

  it('fails clearly on a pull refused inside the 200 stream, leaving nothing', async () => {
    const refused = uniquePrefix('refused')
    created.push(refused)
    const run = await runAction(await localInputs(refused, { 'docker-host': proxy.url, image: 'vic-lb-test/refused:1' }))
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toMatch(/::error::Could not pull image vic-lb-test\/refused:1: .*(denied|does not exist)/)
    expect(objectsOf(refused)).toEqual([])
  })
})

describe('through an endpoint that refuses API versions below 1.44 (Docker Engine 29)', () => {
  let proxy: VchProxy
  beforeAll(async () => {
    proxy = await startVchProxy({ mode: 'engine29' })
  })
  afterAll(() => proxy.close())

  it('negotiates 1.44 and deploys, scales and tears down', async () => {
    const prefix = uniquePrefix('e29')
    created.push(prefix)
    const inputs = await localInputs(prefix, { 'docker-host': proxy.url, instances: '2' })
    const run = await runAction(inputs)
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain('Engine API 1.44, using 1.44')
    expect((await distinctAnswers(run.outputs.url)).size).toBe(2)
    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix, 'docker-host': proxy.url })
    expect(down.code, explain(down)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
  })
})

describe('instance-memory and instance-cpus on a VCH (the stand-in)', () => {
  it('size the containerVM: memory rounded up to 128 MiB, a fraction of a CPU up to a whole vCPU, no NanoCpus', async () => {
    const calls: string[] = []
    const proxy = await startVchProxy({ mode: 'vch', log: (line) => calls.push(line) })
    try {
      const prefix = uniquePrefix('vchsize')
      created.push(prefix)
      const inputs = await localInputs(prefix, { 'docker-host': proxy.url, instances: '1', 'instance-memory': '700m', 'instance-cpus': '1.5' })
      const run = await runAction(inputs)
      expect(run.code, explain(run)).toBe(0)
      expect(run.stdout).toContain('Each instance is a containerVM with 768 MiB and 2 vCPU(s)')
      const [name] = JSON.parse(run.outputs.instances) as string[]
      expect(docker('inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.CpuCount}} {{.HostConfig.NanoCpus}}', name)).toBe(`${768 * 1024 ** 2} 2 0`)
      // The action sent nothing a VCH would ignore.
      expect(calls.filter((line) => /NanoCpus|CpuShares/.test(line))).toEqual([])

      const small = uniquePrefix('vchsmall')
      created.push(small)
      const refused = await runAction(await localInputs(small, { 'docker-host': proxy.url, 'instance-memory': '256m' }))
      expect(refused.code, explain(refused)).toBe(1)
      expect(refused.stdout).toContain('::error::Invalid instance-memory for a VCH: each instance is a VM there, with at least 512 MiB')
      expect(objectsOf(small)).toEqual([])
    } finally {
      await proxy.close()
    }
  })
})
