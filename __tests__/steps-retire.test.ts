import { describe, expect, it } from 'vitest'
import type { InstanceObject } from '../src/docker/state'
import { retire } from '../src/steps/retire'
import { FakeHost, contextOf, emptyPlan, ownLbOf, recordLog } from './fake-docker-host'

const instance = (name: string): InstanceObject => ({ id: `id-${name}`, name, generation: 'g1', index: 1, port: 80, running: true })
const workers = (...pids: string[]) => ({ Titles: ['PID', 'PPID', 'COMMAND'], Processes: [['1', '0', 'haproxy'], ...pids.map((pid) => [pid, '1', 'haproxy'])] })

describe('retire', () => {
  it('removes the replaced load-balancer, then the old instances once the workers from before the reload have exited', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const lb = host.add({ name: 'web-lb' })
    host.add({ name: 'web-lb-old', running: false })
    for (const name of ['web-g1-1', 'web-g1-2']) host.add({ name })
    host.processLists = [workers('20', '30'), workers('30')]
    const { ctx } = contextOf(host, emptyPlan({ removeAfter: [instance('web-g1-1'), instance('web-g1-2')] }))
    ctx.record.replacedLb = { id: 'id-web-lb-old', name: 'web-lb' }
    ctx.record.drain = { lb, oldWorkers: new Set(['20']) }
    await retire(ctx, ownLbOf(ctx))
    expect(host.calls).toEqual(['remove web-lb-old', 'top web-lb', 'top web-lb', 'remove web-g1-1', 'remove web-g1-2'])
    expect(lines).toEqual(['Removed web-g1-1, web-g1-2'])
    expect(ctx.record.changed).toBe(true)
  })

  it('fails when an old instance cannot be removed', async () => {
    recordLog()
    const host = new FakeHost()
    host.add({ name: 'web-g1-1' })
    host.fail('remove web-g1-1', new Error('device or resource busy'))
    const { ctx } = contextOf(host, emptyPlan({ removeAfter: [instance('web-g1-1')] }))
    await expect(retire(ctx, ownLbOf(ctx))).rejects.toThrow('Could not remove old instances: container web-g1-1: device or resource busy')
  })

  it('has nothing to do when nothing leaves', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const { ctx } = contextOf(host, emptyPlan())
    await retire(ctx, ownLbOf(ctx))
    expect(host.calls).toEqual([])
    expect(lines).toEqual([])
    expect(ctx.record.changed).toBe(false)
  })
})
