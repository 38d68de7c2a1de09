import { log } from './log'
import type Docker from 'dockerode'
import { removeObjects } from './docker/containers'
import { dockerodeHost } from './docker/dockerode-host'
import { readDeployment } from './docker/state'

export interface TeardownResult {
  removed: string[]
}

// Removes every container and network labelled as this deployment's, containers first. Objects
// of other deployments and the external network carry no such label and are never touched.
export async function teardown(docker: Docker, deployment: string): Promise<TeardownResult> {
  const state = await readDeployment(dockerodeHost(docker), deployment)
  const containers = [...state.instances, ...(state.lb ? [state.lb] : [])]
  const removed = [...containers, ...state.networks].map((o) => o.name)
  if (removed.length === 0) {
    log.info(`Nothing to remove: no containers or networks of deployment '${deployment}' on the Docker host.`)
    return { removed }
  }
  const failures = await removeObjects(
    docker,
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
