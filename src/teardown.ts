import { log } from './log'
import type { DockerHost } from './docker/deploy-host'
import { listDeployment } from './docker/state'
import { LABEL } from './labels'
import { checkOwnershipOf } from './owner'
import type { LockOptions } from './lock'
import { unroute } from './ingress/unroute'

export interface TeardownResult {
  removed: string[]
}

// Removes every container, network and volume labelled as this deployment's, containers first:
// also the `<lb>-next` or `<lb>-old` an interrupted load-balancer replacement left beside the
// load-balancer. The companion services' volumes go with them: their data lasts as long as the
// deployment.
// Objects of other deployments and the external network carry no such label and are never
// touched; a deployment another owner's objects carry is refused before anything is removed.
// `lock`: how to take a shared ingress's lock, for a routed deployment's route (ingress/unroute.ts).
export async function teardown(host: DockerHost, deployment: string, owner: string, lock: Omit<LockOptions, 'operation'>): Promise<TeardownResult> {
  const objects = await listDeployment(host, deployment)
  const ownership = checkOwnershipOf(objects, deployment, owner, 'teardown')
  if (ownership.kind === 'unowned')
    log.info(`Deployment '${deployment}' has no owner label (an earlier version of vic-lb-action created it): ${owner} removes it.`)
  // A routed deployment's record goes with its route, first.
  const route = objects.containers.find((c) => c.labels[LABEL.role] === 'route' && c.labels[LABEL.ingress])
  if (route) await unroute(host, deployment, route.labels[LABEL.ingress]!, lock)
  // The lock is the caller's, and goes when it releases it. Instances listed (and logged) before
  // the load-balancer.
  const containers = objects.containers
    .filter((c) => c.labels[LABEL.role] !== 'lock' && c !== route)
    .sort((a, b) => Number(b.labels[LABEL.role] === 'instance') - Number(a.labels[LABEL.role] === 'instance'))
  const removed = [...containers, ...objects.networks, ...objects.volumes].map((o) => o.name)
  if (removed.length === 0) {
    log.info(`Nothing to remove: no containers, networks or volumes of deployment '${deployment}' on the Docker host.`)
    return { removed }
  }
  const failures = await host.remove(
    containers.map((c) => c.id),
    objects.networks.map((n) => n.id),
    objects.volumes.map((v) => v.name),
  )
  if (failures.length > 0)
    throw new Error(
      `Teardown of deployment '${deployment}' could not remove: ${failures.join('; ')}. Run teardown again; if it keeps failing, remove these objects with the docker CLI.`,
    )
  log.info(`Removed ${removed.length} object(s) of deployment '${deployment}': ${removed.join(', ')}`)
  return { removed }
}
