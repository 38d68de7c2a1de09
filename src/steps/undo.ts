import { log } from '../log'
import { describe } from '../docker/engine'
import { restartReplaced } from '../recover'
import type { StepContext } from './context'
import type { LoadBalancer } from './load-balancer'

// A failed or cancelled run takes back what it did: the load-balancer serves as before first, then
// what the run created goes, then the companion services and the load-balancer it stopped are
// started again. It only warns.
export async function undo(ctx: StepContext, loadBalancer: LoadBalancer): Promise<void> {
  const { host, record } = ctx
  await loadBalancer.restorePrevious()
  const failures = await host.remove(record.createdContainers, record.createdNetworks, record.createdVolumes)
  for (const { id, name } of record.replacedServices)
    await restartReplaced(host, id, name, 'service').catch((error: unknown) => failures.push(`restarting the previous service ${name}: ${describe(error)}`))
  failures.push(...(await loadBalancer.startReplacedAgain()))
  const count = record.createdContainers.length + record.createdNetworks.length + record.createdVolumes.length
  if (failures.length > 0) log.warning(`Could not remove everything this run created; remove these by hand or run teardown: ${failures.join('; ')}`)
  else log.info(count > 0 ? `Removed the ${count} object(s) this run created` : 'This run created nothing')
}
