import type Docker from 'dockerode'
import { LABEL, deploymentFilter } from '../labels'

// What a deployment has on the Docker host now, found by its labels.

export interface InstanceObject {
  id: string
  name: string
  generation: string
  index: number
  port: number
  running: boolean
}

export interface LbObject {
  id: string
  name: string
  spec: string
  running: boolean
}

export interface NetworkObject {
  id: string
  name: string
}

export interface DeploymentState {
  instances: InstanceObject[]
  lb?: LbObject
  networks: NetworkObject[]
}

export async function readDeployment(docker: Docker, deployment: string): Promise<DeploymentState> {
  const filters = deploymentFilter(deployment)
  const [containers, networks] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })])
  const state: DeploymentState = { instances: [], networks: networks.map((n) => ({ id: n.Id, name: n.Name })) }
  for (const c of containers) {
    const base = { id: c.Id, name: containerName(c), running: c.State === 'running' }
    if (c.Labels[LABEL.role] === 'lb') state.lb = { ...base, spec: c.Labels[LABEL.lbSpec] ?? '' }
    else if (c.Labels[LABEL.role] === 'instance')
      state.instances.push({
        ...base,
        generation: c.Labels[LABEL.generation] ?? '',
        index: Number(c.Labels[LABEL.index]),
        port: Number(c.Labels[LABEL.port]),
      })
  }
  return state
}

// The deployment label of an object with this name, '' for an object without one, undefined when
// there is no such object: used to refuse to take over somebody else's container or network.
export async function ownerOf(object: Docker.Container | Docker.Network): Promise<string | undefined> {
  try {
    const inspected = (await object.inspect()) as { Labels?: Record<string, string>; Config?: { Labels?: Record<string, string> } }
    const labels = inspected.Config?.Labels ?? inspected.Labels ?? {}
    return labels[LABEL.deployment] ?? ''
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined
    throw error
  }
}

export function containerName(container: Docker.ContainerInfo): string {
  return container.Names[0]?.replace(/^\//, '') ?? container.Id
}
