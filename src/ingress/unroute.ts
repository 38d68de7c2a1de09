import type { DockerHost } from '../docker/deploy-host'
import type { HostProfile } from '../docker/host-profile'
import { withIngressLock, type LockOptions } from '../lock'
import { log } from '../log'
import type { IngressRoute } from './config'
import { findIngress, reloadIngress } from './ensure'
import { removeRoute, writeRoute } from './record'

// Before a routed deployment's objects go (teardown, prune): its route leaves the ingress, which
// reloads without it, so that the ingress stops sending it requests first and goes on serving the
// other previews. The ingress itself stays, also with no route left: removing it is explicit.
export async function unroute(host: DockerHost, deployment: string, ingress: string, lock: Omit<LockOptions, 'operation'>): Promise<void> {
  await setRouteUnderLock(host, ingress, deployment, undefined, lock)
  log.info(`Removed the route of deployment '${deployment}' from ingress '${ingress}'`)
}

// restoreRoute under the ingress's lock, taken here: teardown, prune and the post step.
export function setRouteUnderLock(
  host: DockerHost,
  ingress: string,
  deployment: string,
  route: IngressRoute | undefined,
  lock: Omit<LockOptions, 'operation'>,
): Promise<void> {
  return withIngressLock(host, ingress, { ...lock, operation: 'route' }, (leased) => restoreRoute(leased, lock.host, ingress, deployment, route, lock.image))
}

// Under the ingress's lock: the deployment's route set to `route` (removed when undefined) and the
// ingress, when it runs, reloaded with every route. The undo of a routed deploy, its post step and
// its teardown. `image`: what a record is created from, should it be missing.
export async function restoreRoute(
  leased: DockerHost,
  profile: HostProfile,
  ingress: string,
  deployment: string,
  route: IngressRoute | undefined,
  image: string,
): Promise<void> {
  if (route) await writeRoute(leased, ingress, route, image)
  else await removeRoute(leased, deployment)
  const found = await findIngress(leased, profile, ingress)
  if (found?.running) await reloadIngress(leased, found)
}
