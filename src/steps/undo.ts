import { log } from '../log'
import { describe } from '../docker/engine'
import { loadConfig, putCertificate } from '../haproxy/reload'
import { restartReplaced } from '../recover'
import type { StepContext } from './context'
import { statsAddressOf } from './switch'

// How long the undo waits for a load-balancer it started again to listen: HAProxy starts in well under a second.
const LISTEN_TIMEOUT_MS = 10_000

// A failed or cancelled run takes back what it did: the kept load-balancer's configuration first,
// then what it created, then the companion services and the load-balancer it stopped are started
// again. It only warns.
export async function undo(ctx: StepContext): Promise<void> {
  const { host, settings, record } = ctx
  if (record.previousConfig) {
    const { lb, text, certificate } = record.previousConfig
    try {
      if (certificate) await putCertificate(host, lb, 'service', certificate, settings.lbName)
      await loadConfig(host, lb, text)
      log.info('Restored the previous load-balancer configuration')
    } catch (error) {
      log.warning(`Could not restore the previous load-balancer configuration: ${describe(error)}`)
    }
  }
  const failures = await host.remove(record.createdContainers, record.createdNetworks, record.createdVolumes)
  for (const { id, name } of record.replacedServices)
    await restartReplaced(host, id, name, 'service').catch((error: unknown) => failures.push(`restarting the previous service ${name}: ${describe(error)}`))
  if (record.replacedLb) {
    const { id, name } = record.replacedLb
    try {
      await restartReplaced(host, id, name)
      // Serving again before the run ends, not a moment after.
      const { ip, statsHostPort } = statsAddressOf(ctx, await host.inspect(id))
      if (!(ip && statsHostPort && (await ctx.waitUntilListening(ip, statsHostPort, LISTEN_TIMEOUT_MS))))
        log.warning(`The previous load-balancer ${name} was started again but does not answer yet; check it with docker logs ${name}`)
    } catch (error) {
      failures.push(`restarting the previous load-balancer ${name}: ${describe(error)}`)
    }
  }
  const count = record.createdContainers.length + record.createdNetworks.length + record.createdVolumes.length
  if (failures.length > 0) log.warning(`Could not remove everything this run created; remove these by hand or run teardown: ${failures.join('; ')}`)
  else log.info(count > 0 ? `Removed the ${count} object(s) this run created` : 'This run created nothing')
}
