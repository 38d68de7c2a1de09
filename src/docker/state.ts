import type Docker from 'dockerode'
import { LABEL } from '../labels'
import type { ContainerSummary, DockerHost, NetworkSummary } from './deploy-host'

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

// Every container and network labelled as the deployment's, its lock included.
export interface DeploymentObjects {
  containers: ContainerSummary[]
  networks: NetworkSummary[]
}

export async function listDeployment(host: DockerHost, deployment: string): Promise<DeploymentObjects> {
  const labels = [`${LABEL.deployment}=${deployment}`]
  const [containers, networks] = await Promise.all([host.listContainers(labels), host.listNetworks(labels)])
  return { containers, networks }
}

// Pure: the deployment's instances, load-balancer and networks among its objects.
export function deploymentState({ containers, networks }: DeploymentObjects): DeploymentState {
  const state: DeploymentState = { instances: [], networks: networks.map(({ id, name }) => ({ id, name })) }
  for (const { labels, ...c } of containers) {
    const base = { id: c.id, name: c.name, running: c.running }
    if (labels[LABEL.role] === 'lb') state.lb = { ...base, spec: labels[LABEL.lbSpec] ?? '' }
    else if (labels[LABEL.role] === 'instance')
      state.instances.push({
        ...base,
        generation: labels[LABEL.generation] ?? '',
        index: Number(labels[LABEL.index]),
        port: Number(labels[LABEL.port]),
      })
  }
  return state
}

// The deployment label of an object with this name, '' for an object without one, undefined when
// there is no such object: used to refuse to take over somebody else's container or network.
export async function deploymentOf(host: DockerHost, kind: 'container' | 'network', name: string): Promise<string | undefined> {
  const labels = await host.labelsOf(kind, name)
  return labels && (labels[LABEL.deployment] ?? '')
}

export function containerName(container: Docker.ContainerInfo): string {
  return container.Names[0]?.replace(/^\//, '') ?? container.Id
}
