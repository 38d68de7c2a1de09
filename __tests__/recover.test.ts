import { describe, expect, it } from 'vitest'
import { deploymentLabels } from '../src/labels'
import { listDeployment } from '../src/docker/state'
import { settleInterruptedReplacement } from '../src/recover'
import { FakeHost, recordLog } from './fake-docker-host'

// What a run killed in the middle of replacing the load-balancer leaves, settled by the next run.
function hostWith(lbs: { name: string; running: boolean }[]): FakeHost {
  const host = new FakeHost()
  for (const lb of lbs) host.add({ ...lb, labels: deploymentLabels('web', 'lb') })
  // Another deployment's load-balancer of the same name pattern is never touched.
  host.add({ id: 'other-next', name: 'web-lb-next', running: false, labels: deploymentLabels('other', 'lb') })
  return host
}

// As a deploy calls it: with the deployment's containers listed under the lock.
async function settle(host: FakeHost): Promise<boolean> {
  return settleInterruptedReplacement(host, (await listDeployment(host, 'web')).containers, 'web-lb')
}

describe('settleInterruptedReplacement', () => {
  it('does nothing when no replacement was under way', async () => {
    const host = hostWith([{ name: 'web-lb', running: true }])
    expect(await settle(host)).toBe(false)
    expect(host.calls).toEqual([])
  })

  it('removes a replacement that was never started, and starts the previous one again under its name', async () => {
    recordLog()
    const host = hostWith([
      { name: 'web-lb-next', running: false },
      { name: 'web-lb-old', running: false },
    ])
    expect(await settle(host)).toBe(true)
    expect(host.calls).toEqual(['remove web-lb-next', 'rename web-lb-old web-lb', 'start web-lb'])
    expect(host.containers.has('other-next')).toBe(true)
  })

  it('keeps a complete replacement that starts, and removes the previous one', async () => {
    recordLog()
    const host = hostWith([
      { name: 'web-lb', running: false },
      { name: 'web-lb-old', running: false },
    ])
    expect(await settle(host)).toBe(true)
    expect(host.calls).toEqual(['start web-lb', 'remove web-lb-old'])
  })

  it('falls back to the previous load-balancer when the replacement does not start', async () => {
    const lines = recordLog()
    const host = hostWith([
      { name: 'web-lb', running: false },
      { name: 'web-lb-old', running: false },
    ])
    host.fail('start web-lb', new Error('port is already allocated'))
    expect(await settle(host)).toBe(true)
    expect(host.calls).toEqual(['start web-lb', 'remove web-lb', 'rename web-lb-old web-lb', 'start web-lb'])
    expect(lines.join('\n')).toContain('does not start (port is already allocated); removing it')
  })

  it('says what it could not settle, and what to do', async () => {
    const host = hostWith([{ name: 'web-lb-old', running: false }])
    host.fail('rename web-lb-old web-lb', new Error('name in use'))
    await expect(settle(host)).rejects.toThrow(
      'Could not settle the load-balancer replacement an interrupted run left (renaming web-lb-old back): name in use. Run teardown, or remove web-lb-next and web-lb-old by hand.',
    )
  })
})
