import { log } from '../log'
import { describe } from '../docker/engine'
import { limited } from '../docker/containers'
import { instanceResources } from '../docker/resources'
import type { ContainerSpec } from '../docker/deploy-host'
import type { DeploymentState, LbObject } from '../docker/state'
import type { InstanceConfig } from '../inputs'
import { LABEL, deploymentLabels } from '../labels'
import { CONFIG_DIR, CONFIG_FILE, STATS_PORT, renderHaproxyConfig, type LbConfig } from '../haproxy/config'
import { putCertificate } from '../haproxy/reload'
import type { StepContext } from './context'
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

// The load-balancer (when it is new or replaced) and the new instances; returns the ID of the
// load-balancer that is to serve. `early`: what the companion services' phase did before
// (services/start.ts): it prepared the host, and may have started the load-balancer.
export async function startAll(ctx: StepContext, lbConfig: LbConfig, state: DeploymentState, early?: { lb?: string }): Promise<string> {
  if (!early) await prepareHost(ctx)
  // One queue of starts with the load-balancer's first: it resolves the instances by name at run
  // time, so it need not wait for them, and on a VCH its start is a VM boot like theirs.
  const lb = ctx.plan.lb === 'keep' || early?.lb ? undefined : () => startLb(ctx, lbConfig, state)
  const values = await startQueue(ctx, [...(lb ? [lb] : []), ...ctx.plan.create.map((i) => () => startInstance(ctx, i.name, i.index))])
  return lb ? (values[0] as string) : (early?.lb ?? state.lb!.id)
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

async function startInstance(ctx: StepContext, name: string, index: number): Promise<void> {
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

// Created on ONE network with its ports published, then connected to the instance network,
// given its configuration and only then started: the order a VCH accepts. A replacement (new
// HAProxy image, port or network) is prepared in full while the old one still serves, so the
// gap is only the old one's graceful stop and the new one's start.
export async function startLb(ctx: StepContext, lbConfig: LbConfig, state: DeploymentState): Promise<string> {
  const { host, settings, netName, record } = ctx
  const firstNetwork = settings.externalNetwork || netName
  // Each port the load-balancer serves on (inside it) and where the Docker host publishes it.
  const served = [[lbConfig.listenPort, settings.lbPort], ...(lbConfig.redirectListenPort ? [[lbConfig.redirectListenPort, settings.httpRedirectPort!]] : [])]
  const stats = `${STATS_PORT}/tcp`
  const name = state.lb ? `${settings.lbName}-next` : settings.lbName
  const container = await host
    .createContainer({
      name,
      Image: settings.haproxyImage,
      Labels: deploymentLabels(settings.instancePrefix, 'lb', { [LABEL.lbSpec]: ctx.lbSpec }),
      // Given only to bind a port below 1024: see lbUser.
      ...(lbConfig.startsAsRoot ? { User: 'root' } : {}),
      ExposedPorts: Object.fromEntries([...served.map(([inside]) => [`${inside}/tcp`, {}]), [stats, {}]]),
      HostConfig: {
        NetworkMode: firstNetwork,
        RestartPolicy: ctx.profile.restartPolicy,
        // On a container network publishing opens the VCH firewall for the port; on the Docker
        // host's own network it maps lb-port (and http-redirect-port), and the stats page to a free port.
        PortBindings: Object.fromEntries([
          ...served.map(([inside, outside]) => [`${inside}/tcp`, [{ HostPort: settings.externalNetwork ? '' : String(outside) }]]),
          [stats, [{ HostPort: '' }]],
        ]),
      },
      NetworkingConfig: { EndpointsConfig: { [firstNetwork]: {} } },
    })
    .catch((error) => {
      throw new Error(`Could not create load-balancer ${name} from ${settings.haproxyImage}: ${describe(error)}`)
    })
  record.createdContainers.push(container)
  record.changed = true
  if (settings.externalNetwork) await host.connect(netName, container)
  const placed = host
    .hasPath(container, CONFIG_DIR)
    .then((found) =>
      found ? host.putFile(container, CONFIG_DIR, CONFIG_FILE, renderHaproxyConfig(lbConfig)) : Promise.reject(new Error('the image has no such directory')),
    )
  await placed.catch((error) => {
    throw new Error(
      `Could not put the HAProxy configuration into ${CONFIG_DIR} of load-balancer ${name}: ${describe(error)}. haproxy-image must be built like the official haproxy image (${settings.haproxyImage} may not be).`,
    )
  })
  await putCertificate(host, container, 'stats', lbConfig.statsCertificate.pem, name)
  if (settings.certificate) await putCertificate(host, container, 'service', settings.certificate.pem, name)
  if (state.lb) await standAside(ctx, state.lb, container)
  await host.start(container).catch((error) => {
    throw new Error(
      `Could not start load-balancer ${settings.lbName}: ${describe(error)}${/port is already allocated|address already in use/i.test(describe(error)) ? `. Port ${served.map(([, outside]) => outside).join(' or ')} is taken on the Docker host: choose another ${settings.httpRedirectPort ? 'lb-port or http-redirect-port' : 'lb-port'} or stop what uses it.` : ''}`,
    )
  })
  log.info(`Started load-balancer ${settings.lbName}`)
  return container
}

// The old load-balancer stops (gracefully: the image's stop signal lets HAProxy finish its
// requests) and gives its name to the new one; it is kept until the new one serves, so that a
// failed replacement can start it again.
async function standAside(ctx: StepContext, old: LbObject, next: string): Promise<void> {
  const { host, settings, record } = ctx
  ctx.signal?.throwIfAborted()
  record.remember({ replacedLb: { id: old.id, name: old.name } })
  await host.stop(old.id, 10)
  if (old.name === settings.lbName) await host.rename(old.id, `${old.name}-old`)
  record.replacedLb = { id: old.id, name: old.name }
  await host.rename(next, settings.lbName)
  log.info(`Stopped load-balancer ${old.name} to replace it`)
}
