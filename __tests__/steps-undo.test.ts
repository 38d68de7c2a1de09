import { describe, expect, it } from 'vitest'
import { undo } from '../src/steps/undo'
import { FakeHost, contextOf, emptyPlan, ownLbOf, recordLog } from './fake-docker-host'

describe('undo', () => {
  it('warns, and still restarts the replaced load-balancer, when what the run created cannot all be removed', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const next = host.add({ name: 'web-lb' })
    const old = host.add({ name: 'web-lb-old', running: false })
    host.fail('remove web-lb', new Error('removal already in progress'))
    const { ctx, listens } = contextOf(host, emptyPlan({ lb: 'replace' }))
    ctx.record.createdContainers.push(next)
    ctx.record.replacedLb = { id: old, name: 'web-lb' }
    await undo(ctx, ownLbOf(ctx))
    expect(host.calls).toEqual(['remove web-lb', 'rename web-lb-old web-lb', 'start web-lb'])
    // ...and it ends once the load-balancer started again listens, on its published stats port.
    expect(listens).toEqual(['127.0.0.1:32768'])
    expect(lines).toEqual([
      'Started the previous load-balancer web-lb again',
      'warning: Could not remove everything this run created; remove these by hand or run teardown: container web-lb: removal already in progress',
    ])
  })

  it('warns when the load-balancer it started again does not listen', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const old = host.add({ name: 'web-lb-old', running: false })
    const { ctx } = contextOf(host, emptyPlan({ lb: 'replace' }), { listening: false })
    ctx.record.replacedLb = { id: old, name: 'web-lb' }
    await undo(ctx, ownLbOf(ctx))
    expect(lines).toEqual([
      'Started the previous load-balancer web-lb again',
      'warning: The previous load-balancer web-lb was started again but does not answer yet; check it with docker logs web-lb',
      'This run created nothing',
    ])
  })

  it('goes on when the previous configuration cannot be restored', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const lb = host.add({ name: 'web-lb' })
    host.fail('signal web-lb SIGUSR2', new Error('container is not running'))
    const { ctx } = contextOf(host, emptyPlan())
    ctx.record.previousConfig = { lb, text: 'before\n' }
    await undo(ctx, ownLbOf(ctx))
    expect(lines).toEqual(['warning: Could not restore the previous load-balancer configuration: container is not running', 'This run created nothing'])
  })
})
