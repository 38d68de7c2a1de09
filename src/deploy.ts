import { log } from './log'
import { randomBytes } from 'node:crypto'
import { InputError, LeaseLostError } from './errors'
import { type DeploySettings, type IngressSettings } from './inputs'
import { describe, type Engine } from './docker/engine'
import type { DockerHost } from './docker/deploy-host'
import type { HostProfile } from './docker/host-profile'
import { obtainImage, type PulledImage } from './docker/images'
import { describeResources, instanceResources } from './docker/resources'
import { deploymentOf, deploymentState, listDeployment, type DeploymentState } from './docker/state'
import { networkName } from './names'
import { checkOwner, checkOwnershipOf } from './owner'
import { settleInterruptedReplacement } from './recover'
import { generationOf, generationWithSecrets, generationsWithSettings, holdsValues, lbSpecOf, planDeploy, type DeployPlan } from './plan'
import type { ServerStatus } from './haproxy/stats'
import { waitUntilListening, waitUntilServing } from './readiness'
import { UndoRecord, type StepContext } from './steps/context'
import type { LoadBalancer, ServiceAddress, Switched } from './steps/load-balancer'
import { ownLoadBalancer } from './steps/own-load-balancer'
import { ingressRoute, type UnderIngressLock } from './ingress/route'
import { startAll } from './steps/start'
import { retire } from './steps/retire'
import { undo } from './steps/undo'
import { releaseNeeded, runRelease } from './release/run'
import { describeServices, serviceMemoryInput, servicesToStart } from './services/plan'
import { servicesPlanFor, startServices } from './services/start'

export interface DeployResult extends ServiceAddress {
  lbContainer: string
  instances: string[]
  statuses: ServerStatus[]
  config: string
  changed: boolean
  // How long the release command ran, when this deploy ran it.
  release?: { seconds: number }
}

export interface PulledImages {
  image: PulledImage
  haproxyImage: PulledImage
  // The companion services' images, in the order of settings.services.
  serviceImages: PulledImage[]
}

// Pulls happen before the deployment's lock is taken: they change no deployment and can be slow.
export async function pullImages(host: DockerHost, profile: HostProfile, settings: DeploySettings, signal?: AbortSignal): Promise<PulledImages> {
  const options = { policy: settings.pull, auth: settings.registryAuth, signal, localImageNamespace: profile.localImageNamespace }
  const references = [settings.image, settings.haproxyImage, ...settings.services.map((s) => s.image)]
  const pulled = await log.group('Pull images', () => Promise.all(references.map((ref) => obtainImage(host, ref, options, log.info))))
  for (const { warning } of pulled) if (warning) log.warning(warning)
  const [image, haproxyImage, ...serviceImages] = pulled
  return { image: image!, haproxyImage: haproxyImage!, serviceImages }
}

// Runs under the deployment's lock: what the host has is read here, not before, and planned; then
// the steps run (deploySteps).
export async function deploy(
  host: DockerHost,
  engine: Engine,
  settings: DeploySettings,
  { image, haproxyImage, serviceImages }: PulledImages,
  signal?: AbortSignal,
  // Runs a change of a shared ingress's routes under its lock (settings.ingress only).
  underIngressLock?: UnderIngressLock,
): Promise<DeployResult> {
  const deadline = Date.now() + settings.waitTimeoutSeconds * 1000
  // A routed deployment without companion services has no network of its own: its instances are on
  // the ingress's, where the ingress reaches them. Hosts limit networks, not previews: dockerd's
  // default address pools give about 30, a VCH's default bridge range 16.
  const onIngressNetwork = !!settings.ingress && settings.services.length === 0
  const netName = networkName(onIngressNetwork ? settings.ingress!.name : settings.instancePrefix)
  const objects = await listDeployment(host, settings.instancePrefix)
  // Again under the lock: another owner's run may have created the deployment since checkHost.
  const ownership = checkOwnershipOf(objects, settings.instancePrefix, settings.owner, 'deploy')
  if (ownership.kind === 'unowned')
    log.info(
      `Deployment '${settings.instancePrefix}' has no owner label (an earlier version of vic-lb-action created it): ${settings.owner} adopts it, and the objects this run creates record ${settings.owner} as their owner.`,
    )
  const settled = await settleInterruptedReplacement(host, objects.containers, settings.lbName)
  const state = deploymentState(settled ? await listDeployment(host, settings.instancePrefix) : objects)

  const lbSpec = lbSpecOf(haproxyImage.id, settings.externalNetwork, settings.lbPort, !!settings.certificate, settings.httpRedirectPort)
  const planned = planDeploy(
    {
      deployment: settings.instancePrefix,
      generation: await generationFor(host, settings, image.id, state),
      instances: settings.instances,
      instancePort: settings.instancePort,
      lbName: settings.lbName,
      lbSpec,
    },
    state,
  )
  const plan = onIngressNetwork ? { ...planned, createNetwork: false } : planned
  const services = await servicesPlanFor(
    host,
    settings,
    serviceImages.map((i) => i.id),
    state,
  )
  log.info(describePlan(plan, state, settings.ingress))
  if (settings.services.length + state.services.length > 0) log.info(describeServices(services))
  const resources = describeResources(instanceResources(settings.instanceConfig, engine.host), engine.host)
  if (resources) log.info(resources)
  if (engine.host.note) log.info(engine.host.note)

  const ctx: StepContext = {
    host,
    profile: engine.host,
    publishedHost: engine.target.publishedHost,
    settings,
    plan,
    services,
    netName,
    deadline,
    signal,
    record: new UndoRecord(settings),
    waitUntilServing,
    waitUntilListening,
  }
  // Chosen once, here: the steps only know the interface.
  const loadBalancer = settings.ingress ? await ingressRoute(ctx, state, underIngressLock!) : await ownLoadBalancer(ctx, state, lbSpec)
  return deploySteps(ctx, loadBalancer)
}

// The deploy's steps in their order, the load-balancer's part through its interface. Cancelled
// (ctx.signal) at any moment before traffic has switched, the run takes back what it did; after, it finishes.
export async function deploySteps(ctx: StepContext, loadBalancer: LoadBalancer): Promise<DeployResult> {
  const { plan, services, signal } = ctx
  let switched: Switched
  let release: { seconds: number } | undefined
  try {
    // Companion services first, when there are any to start or to wait for: the instances need
    // them from their first request. Without, the flow is one phase, as before there were services.
    const servicesFirst = servicesToStart(services)
    if (servicesFirst) await log.group('Start companion services', () => startServices(ctx, loadBalancer))
    // The release command (a one-off container of the new image): the services are up, no new
    // instance has started and no traffic has moved.
    release = releaseNeeded(ctx) ? await log.group('Release command', () => runRelease(ctx)) : undefined
    // The load-balancer's switch is prepared while the instances start; both settle before
    // either's failure is thrown, so that the undo finds all that was done.
    const [started, prepared] = await log.group('Start instances and load-balancer', () =>
      Promise.allSettled([startAll(ctx, loadBalancer, servicesFirst), loadBalancer.prepareSwitch()]),
    )
    if (started.status === 'rejected') throw started.reason
    if (prepared.status === 'rejected') throw prepared.reason
    switched = await log.group('Wait until every instance serves through the load-balancer', () => loadBalancer.switchTraffic())
  } catch (error) {
    await log.group(signal?.aborted ? 'Deploy cancelled: undo this run' : 'Deploy failed: undo this run', () =>
      undo(ctx, loadBalancer).catch((undoError: unknown) => {
        // Whoever holds the deployment now settles what this run left.
        if (!(undoError instanceof LeaseLostError)) throw undoError
        log.warning(`Stopped undoing: ${undoError.message}`)
      }),
    )
    ctx.record.settled()
    throw error
  }
  // Traffic has moved: from here on the run completes, cancelled or not, and there is nothing for
  // the post step to take back. What is left to remove serves no more: failing to remove it is
  // said, never undone, since the undo would take down what serves now.
  ctx.record.settled()
  await retire(ctx, loadBalancer).catch((error: unknown) =>
    log.warning(
      `Generation ${plan.generation} serves, but what it replaced was not all removed: ${describe(error)}. It gets no traffic; the next deploy of the deployment removes it, or remove it by hand.`,
    ),
  )
  return {
    ...switched.address,
    lbContainer: loadBalancer.container,
    instances: plan.serving.map((s) => s.name),
    statuses: switched.statuses,
    config: loadBalancer.configWithoutSecrets(),
    changed: ctx.record.changed,
    release,
  }
}

// secret-env values are not part of the generation's hash, which labels store: whether they
// changed is asked of a running instance of the same settings instead, in memory.
async function generationFor(host: DockerHost, settings: DeploySettings, imageId: string, state: DeploymentState): Promise<string> {
  const { secretEnv } = settings.instanceConfig
  const settingsGeneration = generationOf(imageId, settings.instancePort, settings.instanceConfig)
  if (secretEnv.length === 0) return settingsGeneration
  let matching: string | undefined
  for (const generation of generationsWithSettings(state, settingsGeneration)) {
    const instance = state.instances.find((i) => i.generation === generation && i.running)!
    const { Config } = await host.inspect(instance.id)
    if (holdsValues(Config.Env ?? [], secretEnv)) matching = generation
  }
  return generationWithSecrets(settingsGeneration, matching, randomBytes(3).toString('hex'))
}

// Everything that can be found wrong before the host is changed.
export async function checkHost(host: DockerHost, engine: Engine, settings: DeploySettings): Promise<void> {
  await checkOwner(host, settings.instancePrefix, settings.owner, 'deploy')
  const { cpus } = settings.instanceConfig
  instanceResources(settings.instanceConfig, engine.host)
  for (const service of settings.services) instanceResources(service, engine.host, serviceMemoryInput(service.name))
  // A host that limits containers refuses more CPUs than it has, but only once the instance is
  // created; a containerVM's vCPUs are not bounded by the VCH's own count.
  const sized = [{ input: 'instance-cpus', cpus }, ...settings.services.map((s) => ({ input: `cpus of service '${s.name}'`, cpus: s.cpus }))].filter(
    (s) => s.cpus,
  )
  if (sized.length > 0 && engine.host.instanceSize === 'cgroup-limits') {
    const NCPU = await host.cpuCount()
    const over = sized.find((s) => NCPU && s.cpus! > NCPU)
    if (over) throw new InputError(`Invalid ${over.input} ${over.cpus}: the Docker host has ${NCPU} CPU(s). Give at most ${NCPU}.`)
  }
  await checkVolumeStore(host, engine.host, settings)
  const netName = networkName(settings.instancePrefix)
  const [lbDeployment, netDeployment, external] = await Promise.all([
    deploymentOf(host, 'container', settings.lbName),
    deploymentOf(host, 'network', netName),
    settings.externalNetwork ? deploymentOf(host, 'network', settings.externalNetwork) : Promise.resolve(''),
  ])
  refuseForeign('container', settings.lbName, lbDeployment, settings.instancePrefix, 'lb-name')
  refuseForeign('network', netName, netDeployment, settings.instancePrefix, 'instance-prefix')
  if (external === undefined)
    throw new Error(
      `External network '${settings.externalNetwork}' does not exist on the Docker host. On a VCH use one of its --container-network names (docker network ls); on a plain Docker Engine set external-network to '' to publish lb-port on the host.`,
    )
}

// A VCH keeps volumes in volume stores that vic-machine was given; one without the store the action
// uses cannot create a service's volume, which would fail only once the deploy is under way.
async function checkVolumeStore(host: DockerHost, profile: HostProfile, settings: DeploySettings): Promise<void> {
  const needing = settings.services.filter((s) => s.volume !== undefined).map((s) => s.name)
  if (!profile.volumeStore || needing.length === 0) return
  const stores = (await host.volumeStores()) ?? []
  if (stores.includes(profile.volumeStore)) return
  throw new Error(
    `The VCH has no volume store named '${profile.volumeStore}' (it has ${stores.length > 0 ? stores.map((s) => `'${s}'`).join(', ') : 'none'}), and service(s) ${needing.join(', ')} need a volume. Ask the vSphere administrator to add one with vic-machine configure --volume-store <datastore>/<path>:${profile.volumeStore}, or remove volume from these services.`,
  )
}

function refuseForeign(kind: string, name: string, labelled: string | undefined, deployment: string, input: string): void {
  if (labelled === undefined || labelled === deployment) return
  const whose = labelled === '' ? 'was not created by vic-lb-action' : `belongs to deployment '${labelled}'`
  throw new Error(`A ${kind} named '${name}' already exists on the Docker host and ${whose}. Remove it or choose another ${input}.`)
}

function describePlan(plan: DeployPlan, state: DeploymentState, ingress: IngressSettings | undefined): string {
  const kept = plan.serving.length - plan.create.length
  return [
    `Generation ${plan.generation}: ${kept} instance(s) kept, ${plan.create.length} to start`,
    plan.removeAfter.length + plan.removeFirst.length > 0 ? `, ${plan.removeAfter.length + plan.removeFirst.length} to remove` : '',
    ingress ? `; served as ${ingress.hostname} on ingress '${ingress.name}'.` : `; load-balancer: ${plan.lb === 'keep' ? `keep ${state.lb?.name}` : plan.lb}.`,
  ].join('')
}
