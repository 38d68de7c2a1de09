import { afterAll, describe, expect, it } from 'vitest'
import { ENGINE, IMAGES, distinctAnswers, docker, explain, haproxyUids, localInputs, objectsOf, removeDeployment, runAction, uniquePrefix } from './harness'

// The action's main path against the real Docker engine and real HAProxy: deploy, re-run,
// scale, teardown, in publish mode and on an external network.

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

describe('deploy in publish mode (no external network)', () => {
  const prefix = uniquePrefix('pub')
  created.push(prefix)
  let inputs: Record<string, string>
  let first: Awaited<ReturnType<typeof runAction>>

  it('deploys 3 instances that all answer through the load-balancer', async () => {
    inputs = await localInputs(prefix)
    first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    expect(first.outputs.ip).toBe('127.0.0.1')
    expect(first.outputs.port).toBe(inputs['lb-port'])
    expect(first.outputs.url).toBe(`http://127.0.0.1:${inputs['lb-port']}`)
    const names = JSON.parse(first.outputs.instances) as string[]
    expect(names).toHaveLength(3)
    for (const name of names) expect(name).toMatch(new RegExp(`^${prefix}-[0-9a-f]{8}-[1-3]$`))
    expect(docker('inspect', '-f', '{{.Name}}', first.outputs['lb-container'])).toBe(`/${prefix}-lb`)

    const answers = await distinctAnswers(first.outputs.url)
    expect(answers.size).toBe(3)
    for (const answer of answers) expect(answer).toMatch(/^200 web v1 [0-9a-f]{12}$/)
  })

  it('writes a job summary with the address, every instance and the configuration', () => {
    expect(first.summary).toContain(first.outputs.url)
    for (const name of JSON.parse(first.outputs.instances)) expect(first.summary).toContain(name)
    expect(first.summary).toMatch(/<details>[\s\S]*backend instances[\s\S]*<\/details>/)
  })

  it('converges when re-run with the same inputs', async () => {
    const again = await runAction(inputs)
    expect(again.code, explain(again)).toBe(0)
    expect(again.outputs['lb-container']).toBe(first.outputs['lb-container'])
    expect(again.outputs.instances).toBe(first.outputs.instances)
    expect(again.stdout).toContain('Unchanged')
    expect(objectsOf(prefix)).toHaveLength(5) // 3 instances, the load-balancer, the network
    expect((await distinctAnswers(again.outputs.url)).size).toBe(3)
  })

  it('scales 3 → 5 → 2 behind the same load-balancer', async () => {
    for (const count of [5, 2]) {
      const run = await runAction({ ...inputs, instances: String(count) })
      expect(run.code, explain(run)).toBe(0)
      expect(run.outputs['lb-container']).toBe(first.outputs['lb-container'])
      expect(JSON.parse(run.outputs.instances)).toHaveLength(count)
      expect(objectsOf(prefix)).toHaveLength(count + 2)
      expect((await distinctAnswers(run.outputs.url, 40)).size).toBe(count)
    }
  })

  it('moves to a new image generation and removes the old one', async () => {
    const run = await runAction({ ...inputs, image: IMAGES.web2, instances: '2' })
    expect(run.code, explain(run)).toBe(0)
    expect(run.outputs.instances).not.toBe(first.outputs.instances)
    const answers = await distinctAnswers(run.outputs.url)
    expect(answers.size).toBe(2)
    for (const answer of answers) expect(answer).toMatch(/^200 web v2 /)
    expect(objectsOf(prefix)).toHaveLength(4)
  })

  it('tears everything down, and a second teardown finds nothing', async () => {
    const run = await runAction({ command: 'teardown', 'instance-prefix': prefix })
    expect(run.code, explain(run)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
    expect(docker('ps', '-a', '--filter', `name=^${prefix}-lb$`, '--format', '{{.Names}}')).toBe('')
    const again = await runAction({ command: 'teardown', 'instance-prefix': prefix })
    expect(again.code, explain(again)).toBe(0)
    expect(again.stdout).toContain('Nothing to remove')
  })
})

describe('deploy on an external network', () => {
  const prefix = uniquePrefix('ext')
  const network = `${prefix}-routable`
  created.push(prefix)
  afterAll(() => {
    docker('network', 'rm', network)
  })

  it('serves on the load-balancer address in that network and teardown leaves the network alone', async () => {
    // A user-defined bridge stands in for a VCH's routable container network: its addresses are
    // reachable from this machine.
    docker('network', 'create', network)
    const inputs = await localInputs(prefix, { 'external-network': network, 'lb-port': '80' })
    const run = await runAction(inputs)
    expect(run.code, explain(run)).toBe(0)
    const lbAddress = docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, `${prefix}-lb`)
    expect(run.outputs.ip).toBe(lbAddress)
    expect(run.outputs.url).toBe(`http://${lbAddress}`)
    expect((await distinctAnswers(run.outputs.url)).size).toBe(3)

    // HAProxy listens on port 80 itself here. dockerd lets any user bind it, so HAProxy runs as the
    // image's user (uid 99) throughout; Podman keeps ports below 1024 for root, so there the master
    // starts as root to bind and the workers, which serve, run as uid 99.
    const uids = haproxyUids(`${prefix}-lb`)
    expect(uids.workers.length).toBeGreaterThan(0)
    expect(new Set(uids.workers)).toEqual(new Set([99]))
    expect(uids.master).toBe(ENGINE.kind === 'docker' ? 99 : 0)
    // A new generation goes in through graceful reloads of that same load-balancer.
    const next = await runAction({ ...inputs, image: IMAGES.web2 })
    expect(next.code, explain(next)).toBe(0)
    expect(next.outputs['lb-container']).toBe(run.outputs['lb-container'])
    expect([...(await distinctAnswers(next.outputs.url))].every((answer) => answer.startsWith('200 web v2 '))).toBe(true)
    expect(new Set(haproxyUids(`${prefix}-lb`).workers)).toEqual(new Set([99]))

    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix })
    expect(down.code, explain(down)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
    expect(docker('network', 'ls', '--filter', `name=^${network}$`, '--format', '{{.Name}}')).toBe(network)
  })
})
