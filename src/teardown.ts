import { log } from './log'
import type { DockerHost } from './docker/deploy-host'
import { readDeployment } from './docker/state'
import { checkOwner } from './owner'

export interface TeardownResult {
  removed: string[]
}

// Removes every container and network labelled as this deployment's, containers first. Objects
// of other deployments and the external network carry no such label and are never touched; a
// deployment another owner's objects carry is refused before anything is removed.
export async function teardown(host: DockerHost, deployment: string, owner: string): Promise<TeardownResult> {
  const ownership = await checkOwner(host, deployment, owner, 'teardown')
  if (ownership.kind === 'unowned')
    log.info(`Deployment '${deployment}' has no owner label (an earlier version of vic-lb-action created it): ${owner} removes it.`)
  const state = await readDeployment(host, deployment)
  const containers = [...state.instances, ...(state.lb ? [state.lb] : [])]
  const removed = [...containers, ...state.networks].map((o) => o.name)
  if (removed.length === 0) {
    log.info(`Nothing to remove: no containers or networks of deployment '${deployment}' on the Docker host.`)
    return { removed }
  }
  const failures = await host.remove(
    containers.map((c) => c.id),
    state.networks.map((n) => n.id),
  )
  if (failures.length > 0)
    throw new Error(
      `Teardown of deployment '${deployment}' could not remove: ${failures.join('; ')}. Run teardown again; if it keeps failing, remove these objects with the docker CLI.`,
    )
  log.info(`Removed ${removed.length} object(s) of deployment '${deployment}': ${removed.join(', ')}`)
  return { removed }
}
