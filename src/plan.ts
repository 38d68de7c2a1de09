import { createHash } from 'node:crypto'
import type { Server } from './haproxy/config'
import type { DeploymentState, InstanceObject } from './docker/state'

// Pure planning: from what the deployment should be and what the Docker host has, decide what to
// create, keep and remove. Re-running with the same inputs plans nothing; a new count scales the
// current generation; a new image (ID) or instance port starts a new generation beside the old.

export interface DesiredDeployment {
  deployment: string
  imageId: string
  instances: number
  instancePort: number
  lbName: string
  // Everything whose change needs a new load-balancer container (see lbSpecOf).
  lbSpec: string
}

export interface InstanceToCreate {
  name: string
  index: number
}

export interface DeployPlan {
  generation: string
  createNetwork: boolean
  // Instances that are stopped or dead: they serve nothing and their names are needed again.
  removeFirst: InstanceObject[]
  create: InstanceToCreate[]
  // What the load-balancer should send traffic to in the end.
  serving: Server[]
  // Removed once the load-balancer no longer sends them traffic.
  removeAfter: InstanceObject[]
  lb: 'create' | 'replace' | 'keep'
}

export function networkName(deployment: string): string {
  return `${deployment}-net`
}

export function instanceName(deployment: string, generation: string, index: number): string {
  return `${deployment}-${generation}-${index}`
}

export function shortHash(values: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(values)).digest('hex').slice(0, 8)
}

export function generationOf(imageId: string, instancePort: number): string {
  return shortHash([imageId, instancePort])
}

export function lbSpecOf(haproxyImageId: string, externalNetwork: string, lbPort: number): string {
  return shortHash([haproxyImageId, externalNetwork, lbPort])
}

export function planDeploy(desired: DesiredDeployment, state: DeploymentState): DeployPlan {
  const generation = generationOf(desired.imageId, desired.instancePort)
  const wanted = new Map<string, number>()
  for (let index = 1; index <= desired.instances; index++) wanted.set(instanceName(desired.deployment, generation, index), index)

  const removeFirst: InstanceObject[] = []
  const removeAfter: InstanceObject[] = []
  const kept = new Set<string>()
  for (const instance of state.instances) {
    if (wanted.has(instance.name) && instance.running) kept.add(instance.name)
    else if (wanted.has(instance.name) || !instance.running) removeFirst.push(instance)
    else removeAfter.push(instance)
  }
  const create = [...wanted].filter(([name]) => !kept.has(name)).map(([name, index]) => ({ name, index }))
  const lb = !state.lb ? 'create' : state.lb.running && state.lb.spec === desired.lbSpec && state.lb.name === desired.lbName ? 'keep' : 'replace'
  return {
    generation,
    createNetwork: !state.networks.some((n) => n.name === networkName(desired.deployment)),
    removeFirst,
    create,
    serving: [...wanted.keys()].map((name) => ({ name, port: desired.instancePort })),
    removeAfter,
    lb,
  }
}
