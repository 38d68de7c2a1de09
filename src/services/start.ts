import { log } from '../log'
import { describe } from '../docker/engine'
import type { DockerHost } from '../docker/deploy-host'
import type { HostProfile } from '../docker/host-profile'
import { instanceResources } from '../docker/resources'
import type { DeploymentState } from '../docker/state'
import type { DeploySettings } from '../inputs'
import { LABEL, deploymentLabels } from '../labels'
import { besideName } from '../names'
import { holdsValues } from '../plan'
import type { StepContext } from '../steps/context'
import type { LoadBalancer } from '../steps/load-balancer'
import { containerConfigOf, prepareHost, startQueue } from '../steps/start'
import { planServices, serviceMemoryInput, serviceSpecHash, type ServiceToStart, type ServicesPlan } from './plan'

// The companion services' phase of a deploy, before any instance starts: their volumes and
// containers on the deployment's network, and the wait until those with a port accept connections.

// The plan, with the secret-env values compared in memory: a running service's Config.Env is
// asked whether it holds them, as for instances (generationFor in deploy.ts).
export async function servicesPlanFor(host: DockerHost, settings: DeploySettings, imageIds: string[], state: DeploymentState): Promise<ServicesPlan> {
  const hashes = new Map(settings.services.map((spec, i) => [spec.name, serviceSpecHash(spec, imageIds[i]!)]))
  const holding = new Set<string>()
  for (const spec of settings.services) {
    const running = state.services.find((s) => s.service === spec.name && s.running && s.spec === hashes.get(spec.name))
    if (spec.secretEnv.length > 0 && running && holdsValues((await host.inspect(running.id)).Config.Env ?? [], spec.secretEnv)) holding.add(spec.name)
  }
  return planServices(settings.instancePrefix, settings.services, hashes, holding, state)
}

// Prepares the host for the instances' phase too (steps/start.ts startAll). Those with a port are
// waited for through the load-balancer: a new one starts first in their queue, since it must see
// them to check them.
export async function startServices(ctx: StepContext, loadBalancer: LoadBalancer): Promise<void> {
  const { host, services, record } = ctx
  await prepareHost(ctx)
  if (services.removeFirst.length > 0) {
    const failures = await host.remove(
      services.removeFirst.map((s) => s.id),
      [],
    )
    if (failures.length > 0) throw new Error(`Could not remove stopped services: ${failures.join('; ')}`)
    record.changed = true
    log.info(`Removed stopped services: ${services.removeFirst.map((s) => s.name).join(', ')}`)
  }
  const waits = services.checked.length > 0
  const lbStart = waits ? loadBalancer.startWithServices() : undefined
  await startQueue(ctx, [...(lbStart ? [() => lbStart.create().then(() => lbStart.start())] : []), ...services.start.map((s) => () => startService(ctx, s))])
  if (!waits) return
  await loadBalancer.waitForServices()
  log.info(`Services accept connections: ${services.checked.map((s) => `${s.name}:${s.port}`).join(', ')}`)
}

async function startService(ctx: StepContext, service: ServiceToStart): Promise<void> {
  const { host, settings, netName, record, profile } = ctx
  const { spec, name, volume, replaces } = service
  if (volume?.create) {
    await host
      .createVolume(
        volume.name,
        profile.volumeDriver,
        volumeOptions(profile),
        deploymentLabels(settings.instancePrefix, 'volume', { [LABEL.service]: spec.name, [LABEL.volumePath]: volume.path }),
      )
      .catch((error) => {
        throw new Error(`Could not create volume ${volume.name} for service ${spec.name}: ${describe(error)}`)
      })
    record.createdVolumes.push(volume.name)
    record.changed = true
  }
  // Created beside the container it replaces, which keeps its name until this one is ready to start.
  const created = replaces ? besideName(name, 'next') : name
  const container = await host
    .createContainer({
      name: created,
      Image: spec.image,
      Labels: deploymentLabels(settings.instancePrefix, 'service', { [LABEL.service]: spec.name, [LABEL.serviceSpec]: service.hash }),
      ...containerConfigOf(spec),
      HostConfig: {
        NetworkMode: netName,
        ...(volume ? { Binds: [`${volume.name}:${volume.path}`] } : {}),
        ...instanceResources(spec, profile, serviceMemoryInput(spec.name)),
        RestartPolicy: profile.restartPolicy,
      },
      // One network at create (a VCH allows no more); the instances reach it by the service's name.
      NetworkingConfig: { EndpointsConfig: { [netName]: { Aliases: [spec.name] } } },
    })
    .catch((error) => {
      throw new Error(`Could not create service ${spec.name} (${created}) from ${spec.image}: ${describe(error)}`)
    })
  record.createdContainers.push(container)
  record.changed = true
  if (replaces) {
    // Stopped (its data must not be written by two containers) and kept until traffic has moved,
    // so that a failed deploy starts it again.
    ctx.signal?.throwIfAborted()
    record.replacedServices.push({ id: replaces.id, name })
    record.remember({ replacedServices: record.replacedServices })
    await host.stop(replaces.id, 10)
    await host.rename(replaces.id, besideName(name, 'old'))
    await host.rename(container, name)
    log.info(`Stopped service ${spec.name} to replace it`)
  }
  await host.start(container).catch((error) => {
    throw new Error(`Could not start service ${spec.name} (${name}): ${describe(error)}`)
  })
  log.info(`Started service ${spec.name} (${name})`)
}

function volumeOptions(profile: HostProfile): Record<string, string> {
  return profile.volumeStore ? { VolumeStore: profile.volumeStore } : {}
}
