import { afterAll, describe, expect, it } from 'vitest'
import {
  IMAGES,
  distinctAnswers,
  docker,
  explain,
  localInputs,
  objectsOf,
  removeDeployment,
  runAction,
  runPost,
  startAction,
  uniquePrefix,
  until,
  expectTakeOverOfKilledHolder,
} from './harness'

// The deployment's lock is a lease (src/lock.ts): its holder renews it every 4 s, and a waiting
// run takes it over only once it has not been renewed for 16 s, or its holder is provably gone.
// Never because of its age: a run that works longer than another run's wait-timeout keeps its lock.
// Traffic goes only to 127.0.0.1, the published load-balancers.

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

describe('the deployment lease', () => {
  it("waits for a holder that works longer than the waiter's wait-timeout, never takes it over, and both runs end consistent", async () => {
    const prefix = uniquePrefix('lease-live')
    created.push(prefix)
    const inputs = await localInputs(prefix, { instances: '2' })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    const before = await distinctAnswers(first.outputs.url, 10)

    // A redeploy whose instances never get healthy holds the lock for its whole wait-timeout.
    const holder = startAction({ ...inputs, image: IMAGES.silent, 'wait-timeout': '45' })
    await until('the holder holds the lock', () => objectsOf(prefix).includes(`${prefix}-lock`))
    // Waits 25 s: longer than the lease's lapse (16 s), and the lock is older than that by then.
    const waiter = await runAction({ ...inputs, image: IMAGES.web2, 'wait-timeout': '25' })
    expect(waiter.code, explain(waiter)).toBe(1)
    expect(waiter.stdout, explain(waiter)).toMatch(
      /::error::Gave up after 25 s \(wait-timeout\) waiting for the deploy of '[^']+' started at .* which still holds it/,
    )
    expect(waiter.stdout + waiter.stderr).not.toContain('Taking over')

    const held = await holder.finished
    expect(held.code, explain(held)).toBe(1)
    expect(held.stdout + held.stderr).not.toMatch(/taken over|lost the lock/)
    // The holder undid its redeploy: the first deployment serves as before, nothing is left over.
    expect(objectsOf(prefix).filter((n) => /-(lock|next|old)$/.test(n))).toEqual([])
    expect(await distinctAnswers(first.outputs.url, 10)).toEqual(before)
  })

  it('takes over within 30 s the lock of a holder SIGKILLed without its post step on what looks like another machine', async () => {
    const prefix = uniquePrefix('lease-dead')
    created.push(prefix)
    await expectTakeOverOfKilledHolder(prefix, await localInputs(prefix, { instances: '2' }))
  })

  it('a post step without state from its main step creates nothing and says so', async () => {
    const prefix = uniquePrefix('lease-post')
    const inputs = await localInputs(prefix, { instances: '2' })
    const post = await runPost(inputs, {})
    expect(post.code, explain(post)).toBe(0)
    expect(post.stdout).toContain('Nothing to clean up')
    // Whatever a deploy or teardown of these inputs would make carries the prefix: a lock, a network, containers.
    expect(docker('ps', '-a', '--filter', `name=${prefix}`, '--format', '{{.Names}}')).toBe('')
    expect(docker('network', 'ls', '--filter', `name=${prefix}`, '--format', '{{.Name}}')).toBe('')
  })
})
