import { log } from '../log'
import { describe } from '../docker/engine'
import type { DeploymentState, LbObject } from '../docker/state'
import { LABEL, deploymentLabels } from '../labels'
import { CONFIG_DIR, CONFIG_FILE, renderHaproxyConfig, type LbConfig } from '../haproxy/config'
import { loadConfig, putCertificate } from '../haproxy/reload'
import { basicAuthCheck, basicAuthSaltIn, basicAuthorization, newBasicAuthSalt, withoutBasicAuthDigests } from '../haproxy/basic-auth'
import { withoutStatsPassword } from '../haproxy/stats-auth'
import { restartReplaced } from '../recover'
import type { StepContext } from './context'
import type { LoadBalancer, Start, Switched } from './load-balancer'
import { drainRecorded, prepareReloads, statsAddressOf, switchTraffic, waitForServices, type Reloads } from './switch'
import { createHaproxy, lbSettingsOf, servedPorts, startHaproxy, type HaproxyContainer } from './haproxy-container'

// The deployment's own load-balancer, an HAProxy container of its own (lb-name), behind the
// LoadBalancer the deploy's steps use: started with the services or the instances when it is new
// or replaced, reloaded when it is kept.

// How long the undo waits for a load-balancer it started again to listen: HAProxy starts in well under a second.
const LISTEN_TIMEOUT_MS = 10_000

// Made for one deploy, with its configuration: a kept load-balancer's stats credentials, basic-auth
// salt and stats certificate are read back from inside it (its configuration directory, in one
// request); a new one gets new ones.
export async function ownLoadBalancer(ctx: StepContext, state: DeploymentState, lbSpec: string): Promise<OwnLoadBalancer> {
  const { host, settings, plan, services } = ctx
  const keptLb = plan.lb === 'keep' ? state.lb!.id : undefined
  const keptFiles = keptLb ? await host.getFiles(keptLb, CONFIG_DIR) : new Map<string, string>()
  const keptConfig = keptFiles.get(CONFIG_FILE)
  const basicAuthSalt = (keptConfig !== undefined && basicAuthSaltIn(keptConfig)) || newBasicAuthSalt()
  const lbConfig: LbConfig = {
    ...lbSettingsOf({ ...settings, https: !!settings.certificate }, ctx.profile, keptFiles, settings.lbName),
    protocol: settings.protocol,
    timeouts: settings.timeouts,
    healthCheckPath: settings.healthCheckPath,
    serving: plan.serving,
    candidates: [],
    services: services.checked,
    basicAuth: settings.basicAuth && basicAuthCheck(settings.instancePrefix, basicAuthSalt, settings.basicAuth),
    allowedSources: settings.allowCidrs,
  }
  log.setSecret(lbConfig.statsAuth.password)
  log.setSecret(basicAuthorization(lbConfig.statsAuth))
  return new OwnLoadBalancer(ctx, lbSpec, lbConfig, state, keptFiles)
}

// What it changes goes into the run's UndoRecord (previousConfig, replacedLb, drain), as the other
// steps' changes do, and from there to a killed run's post step; the object keeps only what passes
// from one of its calls to the next.
export class OwnLoadBalancer implements LoadBalancer {
  // The load-balancer this run created, and once started, new or replacing the previous one.
  private created?: string
  private started?: string
  private reloads?: Reloads

  constructor(
    private ctx: StepContext,
    // Labelled on a new one: what its replacement is decided by (plan.ts lbSpecOf).
    private lbSpec: string,
    private lbConfig: LbConfig,
    private state: DeploymentState,
    // What a kept load-balancer's CONFIG_DIR holds (empty for a new one).
    private keptFiles: Map<string, string>,
  ) {}

  // It is on the deployment's network itself.
  readonly instanceNetworks: string[] = []

  get container(): string {
    return this.started ?? this.state.lb!.id
  }

  startWithServices(): Start | undefined {
    return this.ctx.plan.lb === 'keep' ? undefined : this.newStart()
  }

  waitForServices(): Promise<void> {
    return waitForServices(this.ctx, this.container, this.lbConfig, this.state, this.keptFiles)
  }

  startWithInstances(): Start | undefined {
    return this.ctx.plan.lb === 'keep' || this.created ? undefined : this.newStart()
  }

  async prepareSwitch(): Promise<void> {
    this.reloads = await prepareReloads(this.ctx, this.lbConfig, this.state, this.keptFiles)
  }

  switchTraffic(): Promise<Switched> {
    return switchTraffic(this.ctx, this.container, this.lbConfig, this.reloads!)
  }

  async removeReplaced(): Promise<void> {
    const { host, record } = this.ctx
    if (record.replacedLb) await host.remove([record.replacedLb.id], [])
  }

  drain(): Promise<void> {
    return drainRecorded(this.ctx)
  }

  async restorePrevious(): Promise<void> {
    const { host, settings, record } = this.ctx
    if (!record.previousConfig) return
    const { lb, text, certificate } = record.previousConfig
    try {
      if (certificate) await putCertificate(host, lb, 'service', certificate, settings.lbName)
      await loadConfig(host, lb, text)
      log.info('Restored the previous load-balancer configuration')
    } catch (error) {
      log.warning(`Could not restore the previous load-balancer configuration: ${describe(error)}`)
    }
  }

  async startReplacedAgain(): Promise<string[]> {
    const { ctx } = this
    const { host, record } = ctx
    if (!record.replacedLb) return []
    const { id, name } = record.replacedLb
    try {
      await restartReplaced(host, id, name)
      // Serving again before the run ends, not a moment after.
      const { ip, statsHostPort } = statsAddressOf(ctx, await host.inspect(id))
      if (!(ip && statsHostPort && (await ctx.waitUntilListening(ip, statsHostPort, LISTEN_TIMEOUT_MS))))
        log.warning(`The previous load-balancer ${name} was started again but does not answer yet; check it with docker logs ${name}`)
      return []
    } catch (error) {
      return [`restarting the previous load-balancer ${name}: ${describe(error)}`]
    }
  }

  configWithoutSecrets(): string {
    return withoutBasicAuthDigests(withoutStatsPassword(renderHaproxyConfig(this.lbConfig)))
  }

  private newStart(): Start {
    const spec = haproxySpecOf(this.ctx, this.lbSpec, this.lbConfig, this.state)
    return {
      create: async () => {
        this.created = await createLb(this.ctx, spec)
      },
      start: async () => {
        await startLb(this.ctx, this.created!, spec, this.state)
        this.started = this.created
      },
    }
  }
}

// A replacement (new HAProxy image, port or network) is prepared in full while the old one still
// serves, so the gap is only the old one's graceful stop and the new one's start.
function createLb(ctx: StepContext, spec: HaproxyContainer): Promise<string> {
  const { host, record } = ctx
  return createHaproxy(host, ctx.profile, spec, (id) => {
    record.createdContainers.push(id)
    record.changed = true
  })
}

async function startLb(ctx: StepContext, container: string, spec: HaproxyContainer, state: DeploymentState): Promise<void> {
  if (state.lb) await standAside(ctx, state.lb, container)
  await startHaproxy(ctx.host, container, spec)
}

function haproxySpecOf(ctx: StepContext, lbSpec: string, lbConfig: LbConfig, state: DeploymentState): HaproxyContainer {
  const { settings, netName } = ctx
  return {
    kind: 'load-balancer',
    servesAs: settings.lbName,
    name: state.lb ? `${settings.lbName}-next` : settings.lbName,
    image: settings.haproxyImage,
    labels: deploymentLabels(settings.instancePrefix, 'lb', { [LABEL.lbSpec]: lbSpec }),
    startsAsRoot: lbConfig.startsAsRoot,
    served: servedPorts(lbConfig, settings),
    externalNetwork: settings.externalNetwork,
    balancedNetwork: netName,
    config: renderHaproxyConfig(lbConfig),
    statsPem: lbConfig.statsCertificate.pem,
    servicePem: settings.certificate?.pem,
  }
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
