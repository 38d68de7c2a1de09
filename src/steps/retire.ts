import { log } from '../log'
import type { InstanceObject } from '../docker/state'
import type { StepContext } from './context'
import type { LoadBalancer } from './load-balancer'

// The instances that served before and are no longer wanted leave once traffic has moved, with the
// companion services replaced or no longer listed, the volumes no listed service mounts, and what
// the load-balancer leaves (a replaced one).
export async function retire(ctx: StepContext, loadBalancer: LoadBalancer): Promise<void> {
  const { host, plan, record, services } = ctx
  await loadBalancer.removeReplaced()
  const leaving = [...record.replacedServices.map((s) => s.id), ...services.removeAfter.map((s) => s.id)]
  if (leaving.length + services.removeVolumesAfter.length > 0) {
    const failures = await host.remove(leaving, [], services.removeVolumesAfter)
    if (failures.length > 0) throw new Error(`Could not remove old services: ${failures.join('; ')}`)
    record.changed = true
    const removed = [
      ...record.replacedServices.map((s) => `${s.name} (replaced)`),
      ...services.removeAfter.map((s) => s.name),
      ...services.removeVolumesAfter.map((v) => `volume ${v}`),
    ]
    log.info(`Removed ${removed.join(', ')}`)
  }
  if (plan.removeAfter.length === 0) return
  await loadBalancer.drain()
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
