import { createHash } from 'node:crypto'
import type { Server } from './haproxy/config'
import type { DeploymentState, InstanceObject } from './docker/state'
import type { EnvVar, InstanceConfig } from './inputs'
import { instanceName, networkName } from './names'

// Pure planning: from what the deployment should be and what the Docker host has, decide what to
// create, keep and remove. Re-running with the same inputs plans nothing; a new count scales the
// current generation; a new image (ID), instance port or instance configuration (env, secret-env,
// command, limits) starts a new generation beside the old.

export interface DesiredDeployment {
  deployment: string
  // The instances' generation: generationOf, or with secret-env generationWithSecrets.
  generation: string
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

export function shortHash(values: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(values)).digest('hex').slice(0, 8)
}

// The generation of everything the instances run with but the secret-env values: those are not
// hashed, since the hash is stored in labels. A deployment without any instance configuration
// keeps the generation it had before there was one.
export function generationOf(imageId: string, instancePort: number, config?: InstanceConfig): string {
  if (!config || isDefault(config)) return shortHash([imageId, instancePort])
  const { env, secretEnv, command, memoryBytes, cpus } = config
  return shortHash([imageId, instancePort, { env, secretKeys: secretEnv.map((v) => v.key), command, memoryBytes, cpus }])
}

function isDefault(config: InstanceConfig): boolean {
  return config.env.length + config.secretEnv.length === 0 && !config.command && !config.memoryBytes && !config.cpus
}

// With secret-env, instances of the same settings generation may hold other secret values. A
// generation of such instances is `<settings>-<nonce>`; the caller compares the secret values of
// the running ones it lists here (in memory, see deploy.ts) and passes which one holds them.
export function generationsWithSettings(state: DeploymentState, settingsGeneration: string): string[] {
  const generations = state.instances.filter((i) => i.running && i.generation.startsWith(`${settingsGeneration}-`)).map((i) => i.generation)
  return [...new Set(generations)]
}

export function generationWithSecrets(settingsGeneration: string, matching: string | undefined, nonce: string): string {
  return matching ?? `${settingsGeneration}-${nonce}`
}

// Whether a container's environment (Config.Env) holds exactly these values.
export function holdsValues(containerEnv: string[], vars: EnvVar[]): boolean {
  const present = new Set(containerEnv)
  return vars.every((v) => present.has(`${v.key}=${v.value}`))
}

// HTTPS is part of the load-balancer's spec, so that turning it off leaves no certificate behind;
// the redirect port is published like lb-port. Each is hashed only when present, so that a
// load-balancer without them keeps the spec it had before they existed.
export function lbSpecOf(haproxyImageId: string, externalNetwork: string, lbPort: number, https = false, httpRedirectPort?: number): string {
  return shortHash([haproxyImageId, externalNetwork, lbPort, ...(https ? ['https'] : []), ...(httpRedirectPort ? [{ httpRedirectPort }] : [])])
}

export function planDeploy(desired: DesiredDeployment, state: DeploymentState): DeployPlan {
  const { generation } = desired
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
