import { describe, expect, it } from 'vitest'
import { LABEL } from '../src/labels'
import { checkOwner, ownershipOf } from '../src/owner'
import { FakeHost } from './fake-docker-host'

// Two repositories on one Docker host may both deploy `pr-42`: the second is refused, by name,
// before anything on the host changes.

const labels = (deployment: string, role: string, owner?: string): Record<string, string> => ({
  [LABEL.deployment]: deployment,
  [LABEL.role]: role,
  ...(owner === undefined ? {} : { [LABEL.owner]: owner }),
})

// A deployment `pr-42` as a deploy leaves it: network, load-balancer and two instances.
async function deployed(host: FakeHost, owner?: string, deployment = 'pr-42'): Promise<void> {
  await host.createNetwork(`${deployment}-net`, labels(deployment, 'network', owner))
  host.add({ name: `${deployment}-lb`, labels: labels(deployment, 'lb', owner) })
  for (const n of [1, 2]) host.add({ name: `${deployment}-g1-${n}`, labels: labels(deployment, 'instance', owner) })
  // Only what the code under test does is recorded.
  host.calls = []
}

describe('ownershipOf', () => {
  it.each([
    [[], { kind: 'none' }],
    [['acme/one', 'acme/one'], { kind: 'ours' }],
    [['ACME/One'], { kind: 'ours' }],
    [['', ''], { kind: 'unowned' }],
    // Adopted: the objects made before owner labels keep none, the new ones carry the adopter's.
    [['', 'acme/one'], { kind: 'ours' }],
    [['acme/one', 'acme/two'], { kind: 'foreign', owner: 'acme/two' }],
    [['', 'acme/two'], { kind: 'foreign', owner: 'acme/two' }],
  ])('%j for acme/one: %j', (owners, ownership) => {
    expect(ownershipOf(owners, 'acme/one')).toEqual(ownership)
  })
})

describe('checkOwner', () => {
  it("refuses a deploy of another repository's deployment, naming both and what to do, having only read", async () => {
    const host = new FakeHost()
    await deployed(host, 'acme/one')
    const refusal = checkOwner(host, 'pr-42', 'acme/two', 'deploy')
    await expect(refusal).rejects.toThrow(
      "Deployment 'pr-42' on the Docker host belongs to acme/one, and this deploy is for acme/two. Nothing was changed. Two repositories cannot share a deployment name: choose an instance-prefix and lb-name for acme/two that include its repository name, e.g. 'two-pr-42' and 'two-pr-42-lb'. If acme/two is acme/one renamed or transferred, set the input owner to 'acme/one'.",
    )
    expect(host.calls).toEqual([])
  })

  it("refuses a teardown of another repository's deployment, saying nothing was removed", async () => {
    const host = new FakeHost()
    await deployed(host, 'acme/one')
    await expect(checkOwner(host, 'pr-42', 'acme/two', 'teardown')).rejects.toThrow(
      /belongs to acme\/one, and this teardown is for acme\/two\. Nothing was removed\. Give the instance-prefix acme\/two deployed under \(e\.g\. 'two-pr-42'\)/,
    )
  })

  it("counts another owner's lock: its first deploy may be under way with nothing else created yet", async () => {
    const host = new FakeHost()
    host.add({ name: 'pr-42-lock', running: false, labels: labels('pr-42', 'lock', 'acme/one') })
    await expect(checkOwner(host, 'pr-42', 'alice', 'deploy')).rejects.toThrow('belongs to acme/one, and this deploy is for alice')
  })

  it("tells a deployment from before owner labels by its objects, not by the caller's own lock", async () => {
    const host = new FakeHost()
    await deployed(host, undefined, 'pr-7')
    host.add({ name: 'pr-7-lock', running: false, labels: labels('pr-7', 'lock', 'acme/one') })
    expect(await checkOwner(host, 'pr-7', 'acme/one', 'deploy')).toEqual({ kind: 'unowned' })
    host.add({ name: 'pr-8-lock', running: false, labels: labels('pr-8', 'lock', 'acme/one') })
    expect(await checkOwner(host, 'pr-8', 'acme/one', 'deploy')).toEqual({ kind: 'none' })
  })

  it("accepts the owner's own deployment, a new one, and one from before owner labels", async () => {
    const host = new FakeHost()
    await deployed(host, 'acme/one')
    await deployed(host, undefined, 'pr-7')
    expect(await checkOwner(host, 'pr-42', 'acme/one', 'deploy')).toEqual({ kind: 'ours' })
    expect(await checkOwner(host, 'pr-43', 'acme/two', 'deploy')).toEqual({ kind: 'none' })
    expect(await checkOwner(host, 'pr-7', 'acme/two', 'teardown')).toEqual({ kind: 'unowned' })
  })
})
