import type Docker from 'dockerode'
import { LABEL } from '../labels'
import type { ContainerSummary, DockerHost, NetworkSummary, VolumeSummary } from './deploy-host'

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

// A companion service's container (services/plan.ts), by the service's name and spec hash.
export interface ServiceObject {
  id: string
  name: string
  service: string
  spec: string
  running: boolean
}

// A companion service's volume, by name, and the path it is mounted at.
export interface VolumeObject {
  name: string
  service: string
  path: string
}

export interface DeploymentState {
  instances: InstanceObject[]
  lb?: LbObject
  networks: NetworkObject[]
  services: ServiceObject[]
  volumes: VolumeObject[]
}

// Every container, network and volume labelled as the deployment's, its lock included.
export interface DeploymentObjects {
  containers: ContainerSummary[]
  networks: NetworkSummary[]
  volumes: VolumeSummary[]
}

export async function listDeployment(host: DockerHost, deployment: string): Promise<DeploymentObjects> {
  const labels = [`${LABEL.deployment}=${deployment}`]
  const [containers, networks, volumes] = await Promise.all([host.listContainers(labels), host.listNetworks(labels), host.listVolumes(labels)])
  return { containers, networks, volumes }
}

// Pure: the deployment's instances, load-balancer, services, networks and volumes among its objects.
export function deploymentState({ containers, networks, volumes }: DeploymentObjects): DeploymentState {
  const state: DeploymentState = {
    instances: [],
    networks: networks.map(({ id, name }) => ({ id, name })),
    services: [],
    volumes: volumes.map(({ name, labels }) => ({ name, service: labels[LABEL.service] ?? '', path: labels[LABEL.volumePath] ?? '' })),
  }
  for (const { labels, ...c } of containers) {
    const base = { id: c.id, name: c.name, running: c.running }
    if (labels[LABEL.role] === 'lb') state.lb = { ...base, spec: labels[LABEL.lbSpec] ?? '' }
    else if (labels[LABEL.role] === 'service') state.services.push({ ...base, service: labels[LABEL.service] ?? '', spec: labels[LABEL.serviceSpec] ?? '' })
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
