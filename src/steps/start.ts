import { log } from '../log'
import { describe } from '../docker/engine'
import { limited } from '../docker/containers'
import { instanceResources } from '../docker/resources'
import type { ContainerSpec } from '../docker/deploy-host'
import type { InstanceConfig } from '../inputs'
import { LABEL, deploymentLabels } from '../labels'
import type { StepContext } from './context'
import type { LoadBalancer, Start } from './load-balancer'
import { removeInstances } from './retire'

// The network (when it is new) and the removal of stopped instances: before anything starts on it.
export async function prepareHost(ctx: StepContext): Promise<void> {
  const { plan, record, signal } = ctx
  record.remember({})
  signal?.throwIfAborted()
  await ensureNetwork(ctx)
  if (plan.removeFirst.length > 0) {
    await removeInstances(ctx, plan.removeFirst)
    log.info(`Removed stopped instances: ${plan.removeFirst.map((i) => i.name).join(', ')}`)
  }
}

// The new instances, and what the load-balancer starts with them (a new or replaced one the
// companion services' phase did not start). `hostPrepared`: that phase (services/start.ts) ran
// first and prepared the host.
export async function startAll(ctx: StepContext, loadBalancer: LoadBalancer, hostPrepared = false): Promise<void> {
  if (!hostPrepared) await prepareHost(ctx)
  // One queue: the load-balancer is created and given its configuration in the first round, as
  // the instances are, and started last. Its HAProxy then looks up every instance as it starts
  // (init-addr) and checks none before its container runs. Started first, it found them by DNS as
  // they were created and checked some too early, which cost each of those about 0.6 s (traced at
  // N=20: 9 of 20 marked DOWN before their start, the last admitted 0.9 s after the last start;
  // with this order none, and 0.1 s). Created right before its start, as it was, it spent the
  // queue's last round on its create and archive requests. On a VCH its start is a VM boot like theirs.
  const lb = loadBalancer.startWithInstances()
  const networks = loadBalancer.instanceNetworks
  const instances = ctx.plan.create.map((i) => () => startInstance(ctx, i.name, i.index, networks))
  await startQueue(ctx, lb ? createdFirstStartedLast(lb, instances) : instances)
}

function createdFirstStartedLast(lb: Start, between: (() => Promise<void>)[]): (() => Promise<void>)[] {
  let creating: Promise<void> | undefined
  const create = () => (creating ??= lb.create())
  return [create, ...between, () => create().then(() => lb.start())]
}

// Starts at most the host's startsAtOnce at a time. Every start settles before a failure is
// thrown, so that the undo finds all that was created; a cancelled run starts nothing more.
export async function startQueue(ctx: StepContext, tasks: (() => Promise<unknown>)[]): Promise<unknown[]> {
  const { signal } = ctx
  const outcomes = await limited(
    tasks,
    (task) =>
      Promise.resolve()
        .then(() => signal?.throwIfAborted())
        .then(task)
        .then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        ),
    ctx.profile.startsAtOnce,
  )
  signal?.throwIfAborted()
  for (const outcome of outcomes) if (!outcome.ok) throw outcome.error
  return outcomes.map((outcome) => (outcome as { value: unknown }).value)
}

// The deployment's network, created by the first step of the run that needs it: the release
// command's container (src/release) or the instances. The run creates no other network.
export async function ensureNetwork(ctx: StepContext): Promise<void> {
  const { host, plan, record } = ctx
  if (!plan.createNetwork || record.createdNetworks.length > 0) return
  const network = await host.createNetwork(ctx.netName, deploymentLabels(ctx.settings.instancePrefix, 'network'))
  record.createdNetworks.push(network)
  record.changed = true
  log.info(`Created network ${ctx.netName}`)
}

// A container of the new generation as an instance runs it: image, env, secret-env, command and
// size, on the deployment's network only (the one network a VCH takes at create). The release
// command's container is one too, with its own command and labels.
export function newGenerationSpec(ctx: StepContext, name: string, labels: Record<string, string>, command?: string[]): ContainerSpec {
  const { settings, netName } = ctx
  const config = command ? { ...settings.instanceConfig, command } : settings.instanceConfig
  return {
    name,
    Image: settings.image,
    Labels: labels,
    ...containerConfigOf(config),
    HostConfig: { NetworkMode: netName, ...instanceResources(config, ctx.profile) },
    NetworkingConfig: { EndpointsConfig: { [netName]: {} } },
  }
}

async function startInstance(ctx: StepContext, name: string, index: number, networks: string[]): Promise<void> {
  const { host, settings, record } = ctx
  const labels = deploymentLabels(settings.instancePrefix, 'instance', {
    [LABEL.generation]: ctx.plan.generation,
    [LABEL.index]: String(index),
    [LABEL.port]: String(settings.instancePort),
  })
  const spec = newGenerationSpec(ctx, name, labels)
  const container = await host.createContainer({ ...spec, HostConfig: { ...spec.HostConfig, RestartPolicy: ctx.profile.restartPolicy } }).catch((error) => {
    throw new Error(`Could not create instance ${name} from ${settings.image}: ${describe(error)}`)
  })
  record.createdContainers.push(container)
  record.changed = true
  for (const network of networks)
    await host.connect(network, container).catch((error) => {
      throw new Error(`Could not connect instance ${name} to network ${network}: ${describe(error)}`)
    })
  await host.start(container).catch((error) => {
    throw new Error(`Could not start instance ${name}: ${describe(error)}`)
  })
  log.info(`Started ${name}`)
}

// Env and Cmd only when given: absent, the image's own apply. The image's ENTRYPOINT stays, as
// with `docker run IMAGE COMMAND`. For instances and companion services alike.
export function containerConfigOf({ env, secretEnv, command }: Pick<InstanceConfig, 'env' | 'secretEnv' | 'command'>): { Env?: string[]; Cmd?: string[] } {
  const vars = [...env, ...secretEnv]
  return { ...(vars.length > 0 ? { Env: vars.map((v) => `${v.key}=${v.value}`) } : {}), ...(command ? { Cmd: command } : {}) }
}
