import type { DockerHost } from '../docker/deploy-host'
import { withIngressLock, type LockOptions } from '../lock'
import { log } from '../log'
import { findIngress, reloadIngress } from './ensure'
import { removeRoute } from './record'

// Before a routed deployment's objects go (teardown, prune): its route leaves the ingress, which
// reloads without it, so that the ingress stops sending it requests first and goes on serving the
// other previews. The ingress itself stays, also with no route left: removing it is explicit.
export async function unroute(host: DockerHost, deployment: string, ingress: string, lock: Omit<LockOptions, 'operation'>): Promise<void> {
  await withIngressLock(host, ingress, { ...lock, operation: 'route' }, async (leased) => {
    await removeRoute(leased, deployment)
    const found = await findIngress(leased, lock.host, ingress)
    if (found?.running) await reloadIngress(leased, found)
  })
  log.info(`Removed the route of deployment '${deployment}' from ingress '${ingress}'`)
}
