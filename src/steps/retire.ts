import { log } from '../log'
import type { InstanceObject } from '../docker/state'
import { drainOldWorkers } from '../haproxy/reload'
import type { StepContext } from './context'

// The instances that served before and are no longer wanted leave once traffic has moved.
export async function retire(ctx: StepContext): Promise<void> {
  const { host, plan, record } = ctx
  if (record.replacedLb) await host.remove([record.replacedLb.id], [])
  if (plan.removeAfter.length === 0) return
  if (record.drain) await drainOldWorkers(host, record.drain.lb, ctx.profile.processListArgs, record.drain.oldWorkers, ctx.settings.timeouts.drain)
  await removeInstances(ctx, plan.removeAfter)
  record.changed = true
  log.info(`Removed ${plan.removeAfter.map((i) => i.name).join(', ')}`)
}

export async function removeInstances({ host }: StepContext, instances: InstanceObject[]): Promise<void> {
  const failures = await host.remove(
    instances.map((i) => i.id),
    [],
  )
  if (failures.length > 0) throw new Error(`Could not remove old instances: ${failures.join('; ')}`)
}
