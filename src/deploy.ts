import { log } from './log'
import { randomBytes } from 'node:crypto'
import type Docker from 'dockerode'
import { InputError } from './errors'
import { type DeploySettings, type InstanceConfig } from './inputs'
import type { Engine } from './docker/engine'
import { describe } from './docker/engine'
import { lbUser } from './docker/host-profile'
import { obtainImage, type PulledImage } from './docker/images'
import { describeResources, instanceResources } from './docker/resources'
import { containerName, readDeployment, ownerOf, type DeploymentState, type InstanceObject, type LbObject } from './docker/state'
import { limited, recentLogs, removeObjects } from './docker/containers'
import { getFile, hasPath, putFile } from './docker/archive'
import { LABEL, THIS_RUN, deploymentLabels } from './labels'
import { networkName } from './names'
import { rememberDeploy, type UnsettledDeploy } from './state-helper'
import { restartReplacedLb, settleInterruptedReplacement } from './recover'
import { generationOf, generationWithSecrets, generationsWithSettings, holdsValues, lbSpecOf, planDeploy, type DeployPlan } from './plan'
import {
  CANDIDATE_BACKEND,
  CERTIFICATE_PATH,
  CONFIG_DIR,
  CONFIG_FILE,
  SERVING_BACKEND,
  STATS_PATH,
  STATS_PORT,
  renderHaproxyConfig,
  type LbConfig,
  type Server,
} from './haproxy/config'
import { checkInside, drainOldWorkers, haproxyWorkers, keepPreviousConfig, loadConfig, putCertificate } from './haproxy/reload'
import { describeServer, type ServerStatus } from './haproxy/stats'
import { basicAuthorization, statsAuthFor, withoutStatsPassword } from './haproxy/stats-auth'
import { NotReadyError, hostForUrl, waitUntilServing, type Endpoints } from './readiness'

interface ServiceAddress {
  ip: string
  port: number
  url: string
}

export interface DeployResult extends ServiceAddress {
  lbContainer: string
  instances: string[]
  statuses: ServerStatus[]
  config: string
  changed: boolean
}

// Inside the container the load-balancer listens on an unprivileged port when the Docker host
// publishes it, so the image's non-root user never needs to bind below 1024 there.
const PUBLISHED_LISTEN_PORT = 8080

export interface PulledImages {
  image: PulledImage
  haproxyImage: PulledImage
}

// Pulls happen before the deployment's lock is taken: they change no deployment and can be slow.
export async function pullImages(docker: Docker, settings: DeploySettings, signal?: AbortSignal): Promise<PulledImages> {
  const [image, haproxyImage] = await log.group('Pull images', () =>
    Promise.all(
      [settings.image, settings.haproxyImage].map((ref) => obtainImage(docker, ref, { policy: settings.pull, auth: settings.registryAuth, signal }, log.info)),
    ),
  )
  for (const pulled of [image, haproxyImage]) if (pulled.warning) log.warning(pulled.warning)
  return { image, haproxyImage }
}

// Runs under the deployment's lock: what the host has is read here, not before. Cancelled (signal)
// at any moment before traffic has switched, it takes back what it created; after, it finishes.
export async function deploy(engine: Engine, settings: DeploySettings, { image, haproxyImage }: PulledImages, signal?: AbortSignal): Promise<DeployResult> {
  const { docker } = engine
  const deadline = Date.now() + settings.waitTimeoutSeconds * 1000
  const netName = networkName(settings.instancePrefix)
  await settleInterruptedReplacement(docker, settings.instancePrefix, settings.lbName)
  const state = await readDeployment(docker, settings.instancePrefix)

  const lbSpec = lbSpecOf(haproxyImage.id, settings.externalNetwork, settings.lbPort, !!settings.certificate)
  const plan = planDeploy(
    {
      deployment: settings.instancePrefix,
      generation: await generationFor(docker, settings, image.id, state),
      instances: settings.instances,
      instancePort: settings.instancePort,
      lbName: settings.lbName,
      lbSpec,
    },
    state,
  )
  log.info(describePlan(plan, state))
  const resources = describeResources(instanceResources(settings.instanceConfig, engine.host), engine.host)
  if (resources) log.info(resources)
  if (engine.host.note) log.info(engine.host.note)

  const listenPort = settings.externalNetwork ? settings.lbPort : PUBLISHED_LISTEN_PORT
  const lbConfig: LbConfig = {
    protocol: settings.protocol,
    listenPort,
    healthCheckPath: settings.healthCheckPath,
    certificateFile: settings.certificate ? CERTIFICATE_PATH : undefined,
    serving: plan.serving,
    candidates: [],
    statsAuth: await statsAuthFor(plan.lb === 'keep' ? docker.getContainer(state.lb!.id) : undefined, `${CONFIG_DIR}/${CONFIG_FILE}`),
    startsAsRoot: lbUser(engine.host, listenPort) === 'root',
  }
  log.setSecret(lbConfig.statsAuth.password)
  log.setSecret(basicAuthorization(lbConfig.statsAuth))
  const run = new Run(engine, settings, plan, lbSpec, netName, deadline, signal)
  try {
    const lb = await log.group('Start instances and load-balancer', () => run.startAll(lbConfig, state))
    const { statuses, address } = await log.group('Wait until every instance serves through the load-balancer', () => run.switchTraffic(lb, lbConfig, state))
    // Traffic has moved: from here on the run completes, cancelled or not, and there is nothing
    // for the post step to take back.
    rememberDeploy(undefined)
    await run.retire()
    return {
      ...address,
      lbContainer: lb.id,
      instances: plan.serving.map((s) => s.name),
      statuses,
      config: withoutStatsPassword(renderHaproxyConfig(lbConfig)),
      changed: run.changed,
    }
  } catch (error) {
    await log.group(signal?.aborted ? 'Deploy cancelled: undo this run' : 'Deploy failed: undo this run', () => run.undo())
    rememberDeploy(undefined)
    throw error
  }
}

// secret-env values are not part of the generation's hash, which labels store: whether they
// changed is asked of a running instance of the same settings instead, in memory.
async function generationFor(docker: Docker, settings: DeploySettings, imageId: string, state: DeploymentState): Promise<string> {
  const { secretEnv } = settings.instanceConfig
  const settingsGeneration = generationOf(imageId, settings.instancePort, settings.instanceConfig)
  if (secretEnv.length === 0) return settingsGeneration
  let matching: string | undefined
  for (const generation of generationsWithSettings(state, settingsGeneration)) {
    const instance = state.instances.find((i) => i.generation === generation && i.running)!
    const { Config } = await docker.getContainer(instance.id).inspect()
    if (holdsValues(Config.Env ?? [], secretEnv)) matching = generation
  }
  return generationWithSecrets(settingsGeneration, matching, randomBytes(3).toString('hex'))
}

// Everything that can be found wrong before the host is changed.
export async function checkHost(engine: Engine, settings: DeploySettings): Promise<void> {
  const { docker } = engine
  const { cpus } = settings.instanceConfig
  instanceResources(settings.instanceConfig, engine.host)
  // A host that limits containers refuses more CPUs than it has, but only once the instance is
  // created; a containerVM's vCPUs are not bounded by the VCH's own count.
  if (cpus && engine.host.instanceSize === 'cgroup-limits') {
    const { NCPU } = await docker.info()
    if (NCPU && cpus > NCPU) throw new InputError(`Invalid instance-cpus ${cpus}: the Docker host has ${NCPU} CPU(s). Give at most ${NCPU}.`)
  }
  const netName = networkName(settings.instancePrefix)
  const [lbOwner, netOwner, external] = await Promise.all([
    ownerOf(docker.getContainer(settings.lbName)),
    ownerOf(docker.getNetwork(netName)),
    settings.externalNetwork ? ownerOf(docker.getNetwork(settings.externalNetwork)) : Promise.resolve(''),
  ])
  refuseForeign('container', settings.lbName, lbOwner, settings.instancePrefix, 'lb-name')
  refuseForeign('network', netName, netOwner, settings.instancePrefix, 'instance-prefix')
  if (external === undefined)
    throw new Error(
      `External network '${settings.externalNetwork}' does not exist on the Docker host. On a VCH use one of its --container-network names (docker network ls); on a plain Docker Engine set external-network to '' to publish lb-port on the host.`,
    )
}

// Env and Cmd only when given: absent, the image's own apply. The image's ENTRYPOINT stays, as
// with `docker run IMAGE COMMAND`.
function containerConfigOf({ env, secretEnv, command }: InstanceConfig): { Env?: string[]; Cmd?: string[] } {
  const vars = [...env, ...secretEnv]
  return { ...(vars.length > 0 ? { Env: vars.map((v) => `${v.key}=${v.value}`) } : {}), ...(command ? { Cmd: command } : {}) }
}

function refuseForeign(kind: string, name: string, owner: string | undefined, deployment: string, input: string): void {
  if (owner === undefined || owner === deployment) return
  const whose = owner === '' ? 'was not created by vic-lb-action' : `belongs to deployment '${owner}'`
  throw new Error(`A ${kind} named '${name}' already exists on the Docker host and ${whose}. Remove it or choose another ${input}.`)
}

function describePlan(plan: DeployPlan, state: DeploymentState): string {
  const kept = plan.serving.length - plan.create.length
  return [
    `Generation ${plan.generation}: ${kept} instance(s) kept, ${plan.create.length} to start`,
    plan.removeAfter.length + plan.removeFirst.length > 0 ? `, ${plan.removeAfter.length + plan.removeFirst.length} to remove` : '',
    `; load-balancer: ${plan.lb === 'keep' ? `keep ${state.lb?.name}` : plan.lb}.`,
  ].join('')
}

// One deploy's changes to the Docker host, remembered so that a failure takes back exactly
// what this run created and puts the load-balancer's previous configuration back.
class Run {
  changed = false
  private createdContainers: string[] = []
  private createdNetworks: string[] = []
  // What a kept load-balancer had before this run changed it, for the undo (in memory only).
  private previousConfig?: { lb: Docker.Container; text: string; certificate?: string }
  private replacedLb?: { container: Docker.Container; name: string }
  // The kept load-balancer's HAProxy workers from before the final reload, which may still send
  // requests to the instances that leave (undefined where the host cannot list them).
  private drain?: { lb: Docker.Container; oldWorkers?: Set<string> }
  // What the post step must take back should this process be killed (state-helper.ts).
  private unsettled: UnsettledDeploy

  constructor(
    private engine: Engine,
    private settings: DeploySettings,
    private plan: DeployPlan,
    private lbSpec: string,
    private netName: string,
    private deadline: number,
    private signal?: AbortSignal,
  ) {
    this.unsettled = { deployment: settings.instancePrefix, lbName: settings.lbName, run: THIS_RUN }
  }

  private remember(change: Partial<UnsettledDeploy>): void {
    this.unsettled = { ...this.unsettled, ...change }
    rememberDeploy(this.unsettled)
  }

  private get docker(): Docker {
    return this.engine.docker
  }

  async startAll(lbConfig: LbConfig, state: DeploymentState): Promise<Docker.Container> {
    this.remember({})
    this.signal?.throwIfAborted()
    if (this.plan.createNetwork) {
      const network = await this.docker.createNetwork({
        Name: this.netName,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: deploymentLabels(this.settings.instancePrefix, 'network'),
      })
      this.createdNetworks.push(network.id)
      this.changed = true
      log.info(`Created network ${this.netName}`)
    }
    if (this.plan.removeFirst.length > 0) {
      await this.remove(this.plan.removeFirst)
      log.info(`Removed stopped instances: ${this.plan.removeFirst.map((i) => i.name).join(', ')}`)
    }
    // One queue of starts with the load-balancer's first: it resolves the instances by name at run
    // time, so it need not wait for them, and on a VCH its start is a VM boot like theirs. Every
    // start settles before a failure is thrown, so that the undo finds all that was created.
    const lb = this.plan.lb === 'keep' ? undefined : () => this.startLb(lbConfig, state)
    const tasks: (() => Promise<unknown>)[] = [...(lb ? [lb] : []), ...this.plan.create.map((i) => () => this.startInstance(i.name, i.index))]
    const outcomes = await limited(
      tasks,
      // A cancelled run starts nothing more; what already started settles first.
      (task) =>
        Promise.resolve()
          .then(() => this.signal?.throwIfAborted())
          .then(task)
          .then(
            (value) => ({ ok: true as const, value }),
            (error: unknown) => ({ ok: false as const, error }),
          ),
      this.engine.host.startsAtOnce,
    )
    this.signal?.throwIfAborted()
    for (const outcome of outcomes) if (!outcome.ok) throw outcome.error
    return lb ? (outcomes[0] as { value: Docker.Container }).value : this.docker.getContainer(state.lb!.id)
  }

  private async startInstance(name: string, index: number): Promise<void> {
    const { settings, netName } = this
    const container = await this.docker
      .createContainer({
        name,
        Image: settings.image,
        Labels: deploymentLabels(settings.instancePrefix, 'instance', {
          [LABEL.generation]: this.plan.generation,
          [LABEL.index]: String(index),
          [LABEL.port]: String(settings.instancePort),
        }),
        ...containerConfigOf(settings.instanceConfig),
        HostConfig: { NetworkMode: netName, ...instanceResources(settings.instanceConfig, this.engine.host), RestartPolicy: this.engine.host.restartPolicy },
        NetworkingConfig: { EndpointsConfig: { [netName]: {} } },
      })
      .catch((error) => {
        throw new Error(`Could not create instance ${name} from ${settings.image}: ${describe(error)}`)
      })
    this.createdContainers.push(container.id)
    this.changed = true
    await container.start().catch((error) => {
      throw new Error(`Could not start instance ${name}: ${describe(error)}`)
    })
    log.info(`Started ${name}`)
  }

  // Created on ONE network with its ports published, then connected to the instance network,
  // given its configuration and only then started: the order a VCH accepts. A replacement (new
  // HAProxy image, port or network) is prepared in full while the old one still serves, so the
  // gap is only the old one's graceful stop and the new one's start.
  private async startLb(lbConfig: LbConfig, state: DeploymentState): Promise<Docker.Container> {
    const { settings, netName } = this
    const firstNetwork = settings.externalNetwork || netName
    const listen = `${lbConfig.listenPort}/tcp`
    const stats = `${STATS_PORT}/tcp`
    const name = state.lb ? `${settings.lbName}-next` : settings.lbName
    const container = await this.docker
      .createContainer({
        name,
        Image: settings.haproxyImage,
        Labels: deploymentLabels(settings.instancePrefix, 'lb', { [LABEL.lbSpec]: this.lbSpec }),
        // Given only to bind a port below 1024: see lbUser.
        ...(lbConfig.startsAsRoot ? { User: 'root' } : {}),
        ExposedPorts: { [listen]: {}, [stats]: {} },
        HostConfig: {
          NetworkMode: firstNetwork,
          RestartPolicy: this.engine.host.restartPolicy,
          // On a container network publishing opens the VCH firewall for the port; on the Docker
          // host's own network it maps lb-port, and the stats page to a free port.
          PortBindings: {
            [listen]: [{ HostPort: settings.externalNetwork ? '' : String(settings.lbPort) }],
            [stats]: [{ HostPort: '' }],
          },
        },
        NetworkingConfig: { EndpointsConfig: { [firstNetwork]: {} } },
      })
      .catch((error) => {
        throw new Error(`Could not create load-balancer ${name} from ${settings.haproxyImage}: ${describe(error)}`)
      })
    this.createdContainers.push(container.id)
    this.changed = true
    if (settings.externalNetwork) await this.docker.getNetwork(netName).connect({ Container: container.id })
    const placed = hasPath(container, CONFIG_DIR).then((found) =>
      found ? putFile(container, CONFIG_DIR, CONFIG_FILE, renderHaproxyConfig(lbConfig)) : Promise.reject(new Error('the image has no such directory')),
    )
    await placed.catch((error) => {
      throw new Error(
        `Could not put the HAProxy configuration into ${CONFIG_DIR} of load-balancer ${name}: ${describe(error)}. haproxy-image must be built like the official haproxy image (${settings.haproxyImage} may not be).`,
      )
    })
    if (settings.certificate) await putCertificate(container, settings.certificate.pem, name)
    if (state.lb) await this.standAside(state.lb, container)
    await container.start().catch((error) => {
      throw new Error(
        `Could not start load-balancer ${settings.lbName}: ${describe(error)}${/port is already allocated|address already in use/i.test(describe(error)) ? `. Port ${settings.lbPort} is taken on the Docker host: choose another lb-port or stop what uses it.` : ''}`,
      )
    })
    log.info(`Started load-balancer ${settings.lbName}`)
    return container
  }

  // The old load-balancer stops (gracefully: the image's stop signal lets HAProxy finish its
  // requests) and gives its name to the new one; it is kept until the new one serves, so that a
  // failed replacement can start it again.
  private async standAside(old: LbObject, next: Docker.Container): Promise<void> {
    this.signal?.throwIfAborted()
    this.remember({ replacedLb: { id: old.id, name: old.name } })
    const container = this.docker.getContainer(old.id)
    await container.stop({ t: 10 }).catch((error) => {
      if ((error as { statusCode?: number }).statusCode !== 304) throw error
    })
    if (old.name === this.settings.lbName) await container.rename({ name: `${old.name}-old` })
    this.replacedLb = { container, name: old.name }
    await next.rename({ name: this.settings.lbName })
    log.info(`Stopped load-balancer ${old.name} to replace it`)
  }

  // New instances join through the candidates backend: health-checked first, given traffic only
  // once healthy, so a kept load-balancer never sends requests to an instance that is not ready.
  async switchTraffic(lb: Docker.Container, lbConfig: LbConfig, state: DeploymentState): Promise<{ statuses: ServerStatus[]; address: ServiceAddress }> {
    await this.failIfExited()
    const { endpoints, address, user } = await this.endpointsOf(lb, lbConfig)
    if (this.plan.lb === 'keep') {
      const current = await getFile(lb, `${CONFIG_DIR}/${CONFIG_FILE}`)
      const target = renderHaproxyConfig(lbConfig)
      // A new certificate is put in and loaded by the same graceful reload as a configuration.
      const certificate = this.settings.certificate && (await getFile(lb, CERTIFICATE_PATH))
      const newCertificate = this.settings.certificate && certificate !== this.settings.certificate.pem
      if (current !== target || newCertificate) {
        this.signal?.throwIfAborted()
        this.previousConfig = { lb, text: current ?? '', certificate }
        await keepPreviousConfig(lb, current ?? '')
        this.remember({ configChangedOn: lb.id })
        if (newCertificate) await putCertificate(lb, this.settings.certificate!.pem, this.settings.lbName)
        const newcomers = this.plan.create.map((i) => lbConfig.serving.find((s) => s.name === i.name)!)
        if (newcomers.length > 0) {
          const staging = { ...lbConfig, serving: this.stillServing(state), candidates: newcomers }
          await this.reload(lb, user, staging)
          await this.waitFor(endpoints, CANDIDATE_BACKEND, newcomers)
        }
        if (this.plan.removeAfter.length > 0) this.drain = { lb, oldWorkers: await haproxyWorkers(lb, this.engine.host.processListArgs).catch(() => undefined) }
        await this.reload(lb, user, lbConfig)
      }
    }
    return { statuses: await this.waitFor(endpoints, SERVING_BACKEND, lbConfig.serving), address }
  }

  // Instances the kept load-balancer may go on using while newcomers are checked.
  private stillServing(state: DeploymentState): Server[] {
    const gone = new Set(this.plan.removeFirst.map((i) => i.id))
    return state.instances.filter((i) => i.running && !gone.has(i.id)).map((i) => ({ name: i.name, port: i.port }))
  }

  private async reload(lb: Docker.Container, user: string, config: LbConfig): Promise<void> {
    this.signal?.throwIfAborted()
    await checkInside(lb, this.settings.lbName, user, config)
    await loadConfig(lb, renderHaproxyConfig(config))
    this.changed = true
  }

  private async waitFor(endpoints: Endpoints, backend: string, servers: Server[]): Promise<ServerStatus[]> {
    const names = servers.map((s) => s.name)
    try {
      return await waitUntilServing(endpoints, {
        backend,
        servers: names,
        exact: true,
        deadline: this.deadline,
        check: () => this.failIfExited(),
        signal: this.signal,
      })
    } catch (error) {
      if (error instanceof NotReadyError) await this.showLogs(error.unhealthy, error.statuses, backend)
      throw error
    }
  }

  // A container of this run that exits will never become healthy: say so now, not at the timeout.
  private async failIfExited(): Promise<void> {
    const watched = [...this.plan.create.map((i) => i.name), ...(this.plan.lb === 'keep' ? [] : [this.settings.lbName])]
    if (watched.length === 0) return
    const containers = await this.docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${LABEL.deployment}=${this.settings.instancePrefix}`], status: this.engine.host.stoppedStatuses }),
    })
    const dead = containers.find((c) => watched.includes(containerName(c)))
    if (!dead) return
    const container = this.docker.getContainer(dead.Id)
    const { State } = await container.inspect()
    // Started again by its restart policy: Podman restarts at once, so it is judged once its restarts
    // are used up and it stays down; dockerd waits before each restart and shows it restarting
    // meanwhile, which is a crash at start. Either way with the exit code of its last run.
    if (State.Running && !State.Restarting) return
    const logs = await recentLogs(container, 20).catch(() => '(logs unavailable)')
    const what = containerName(dead) === this.settings.lbName ? `Load-balancer ${this.settings.lbName}` : `Instance ${containerName(dead)}`
    const image = containerName(dead) === this.settings.lbName ? this.settings.haproxyImage : this.settings.image
    throw new Error(
      `${what} exited with code ${State.ExitCode} right after starting. Its last log lines:\n${logs.trimEnd() || '(none)'}\nCheck that ${image} runs a long-lived service with this configuration.`,
    )
  }

  private async showLogs(unhealthy: string[], statuses: ServerStatus[], backend: string): Promise<void> {
    const lbName = this.settings.lbName
    for (const name of [lbName, ...unhealthy]) {
      const state = name === lbName ? '' : ` (${describeServer(statuses, backend, name)})`
      const logs = await recentLogs(this.docker.getContainer(name)).catch((error) => `(logs unavailable: ${describe(error)})`)
      await log.group(`Logs of ${name}${state}`, async () => log.info(logs.trimEnd() || '(no output)'))
    }
    if (unhealthy.length > 0)
      log.error(`Not healthy behind the load-balancer: ${unhealthy.map((n) => `${n} ${describeServer(statuses, backend, n)}`).join('; ')}`)
  }

  // Where the load-balancer serves and shows its stats, and the user it runs as.
  private async endpointsOf(lb: Docker.Container, lbConfig: LbConfig): Promise<{ endpoints: Endpoints; address: ServiceAddress; user: string }> {
    const { settings } = this
    const inspected = await lb.inspect()
    let ip: string
    let statsHostPort: number
    if (settings.externalNetwork) {
      ip = inspected.NetworkSettings.Networks[settings.externalNetwork]?.IPAddress ?? ''
      if (!ip)
        throw new Error(
          `Load-balancer ${settings.lbName} got no address on network ${settings.externalNetwork}. Check that the network hands out addresses (its IP range or DHCP).`,
        )
      statsHostPort = STATS_PORT
    } else {
      ip = this.engine.target.publishedHost
      statsHostPort = Number(inspected.NetworkSettings.Ports?.[`${STATS_PORT}/tcp`]?.[0]?.HostPort)
      if (!statsHostPort) {
        await this.failIfExited()
        throw new Error(`Load-balancer ${settings.lbName} has no published ports: it is not running (state: ${inspected.State.Status}).`)
      }
    }
    const port = settings.lbPort
    const scheme = settings.protocol === 'tcp' ? 'tcp' : settings.certificate ? 'https' : 'http'
    const defaultPort = { http: 80, https: 443, tcp: 0 }[scheme]
    const url = `${scheme}://${hostForUrl(ip)}${port === defaultPort ? '' : `:${port}`}`
    return {
      endpoints: {
        statsUrl: `http://${hostForUrl(ip)}:${statsHostPort}${STATS_PATH}`,
        statsAuthorization: basicAuthorization(lbConfig.statsAuth),
        serviceHost: ip,
        servicePort: port,
        protocol: settings.protocol,
        certificateFingerprint: settings.certificate?.fingerprint256,
      },
      address: { ip, port, url },
      user: inspected.Config.User ?? '',
    }
  }

  // The instances that served before and are no longer wanted leave once traffic has moved.
  async retire(): Promise<void> {
    if (this.replacedLb) await removeObjects(this.docker, [this.replacedLb.container.id], [])
    if (this.plan.removeAfter.length === 0) return
    if (this.drain) await drainOldWorkers(this.drain.lb, this.engine.host.processListArgs, this.drain.oldWorkers)
    await this.remove(this.plan.removeAfter)
    this.changed = true
    log.info(`Removed ${this.plan.removeAfter.map((i) => i.name).join(', ')}`)
  }

  private async remove(instances: InstanceObject[]): Promise<void> {
    const failures = await removeObjects(
      this.docker,
      instances.map((i) => i.id),
      [],
    )
    if (failures.length > 0) throw new Error(`Could not remove old instances: ${failures.join('; ')}`)
  }

  async undo(): Promise<void> {
    if (this.previousConfig) {
      const { lb, text, certificate } = this.previousConfig
      try {
        if (certificate) await putCertificate(lb, certificate, this.settings.lbName)
        await loadConfig(lb, text)
        log.info('Restored the previous load-balancer configuration')
      } catch (error) {
        log.warning(`Could not restore the previous load-balancer configuration: ${describe(error)}`)
      }
    }
    const failures = await removeObjects(this.docker, this.createdContainers, this.createdNetworks)
    if (this.replacedLb) {
      const { container, name } = this.replacedLb
      try {
        await restartReplacedLb(container, name)
      } catch (error) {
        failures.push(`restarting the previous load-balancer ${name}: ${describe(error)}`)
      }
    }
    const count = this.createdContainers.length + this.createdNetworks.length
    if (failures.length > 0) log.warning(`Could not remove everything this run created; remove these by hand or run teardown: ${failures.join('; ')}`)
    else log.info(count > 0 ? `Removed the ${count} object(s) this run created` : 'This run created nothing')
  }
}
