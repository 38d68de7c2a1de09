import { log } from '../log'
import { NotReadyError, type Endpoints } from '../readiness'
import { describe } from '../docker/engine'
import type { DockerHost } from '../docker/deploy-host'
import type { DeploymentState } from '../docker/state'
import type { Server } from '../haproxy/config'
import { haproxyWorkers } from '../haproxy/reload'
import { withoutStatsPassword } from '../haproxy/stats-auth'
import { networkName } from '../names'
import type { StepContext } from '../steps/context'
import type { LoadBalancer, Start, Switched } from '../steps/load-balancer'
import { drainRecorded, endpointsOf, stillServing, waitFor } from '../steps/switch'
import { candidateBackendOf, renderIngressConfig, servingBackendOf, type IngressRoute } from './config'
import { ensureIngress, reloadIngress, type Ingress } from './ensure'
import { readRoute, readRoutes, writeRoute } from './record'
import { restoreRoute } from './unroute'

// A routed deployment's load-balancer: its route on a shared ingress (DESIGN.md), behind the same
// LoadBalancer as a load-balancer of its own. Its new instances join the ingress's network; its
// route goes through candidates (checked, no traffic) to serving, each change made under the
// ingress's lock to the route record and then to the configuration rendered from every record.

// Runs fn under the ingress's lock (lock.ts withIngressLock), with the host to write through.
export type UnderIngressLock = <T>(fn: (host: DockerHost) => Promise<T>) => Promise<T>

export async function ingressRoute(ctx: StepContext, state: DeploymentState, underLock: UnderIngressLock): Promise<IngressRouteBalancer> {
  const { settings } = ctx
  // Made or started under the lock, so that two first deploys make one. Not undone by a deploy
  // that fails: it is shared, and another deployment may route through it by then.
  const [ingress, previous] = await underLock(async (host) => {
    refuseTakenHostname((await readRoutes(host, settings.ingress!.name)).routes, settings.ingress!.name, settings.ingress!.hostname, settings.instancePrefix)
    return Promise.all([ensureIngress(host, ctx.profile, settings, () => {}), readRoute(host, settings.instancePrefix)])
  })
  return new IngressRouteBalancer(ctx, state, ingress, previous, underLock)
}

// How long a reload may take to show before the ingress is signalled again.
const SIGNAL_AGAIN_AFTER_MS = 3_000

export class IngressRouteBalancer implements LoadBalancer {
  readonly instanceNetworks: string[]
  // Whether this run changed the route, so that the undo puts back `previous`.
  private changed = false

  constructor(
    private ctx: StepContext,
    private state: DeploymentState,
    private ingress: Ingress,
    // The route before this run; undefined on the deployment's first.
    private previous: IngressRoute | undefined,
    private underLock: UnderIngressLock,
  ) {
    // Unless they are created on it already (a deployment without companion services, deploy.ts).
    const shared = networkName(ctx.settings.ingress!.name)
    this.instanceNetworks = ctx.netName === shared ? [] : [shared]
  }

  get container(): string {
    return this.ingress.id
  }

  // The ingress sees no deployment's network, so it cannot check companion services (inputs.ts
  // refuses a service with a port on a routed deployment); the ingress itself is ready already.
  startWithServices(): Start | undefined {
    return undefined
  }

  async waitForServices(): Promise<void> {}

  startWithInstances(): Start | undefined {
    return undefined
  }

  async prepareSwitch(): Promise<void> {}

  async switchTraffic(): Promise<Switched> {
    const { ctx } = this
    const { plan, settings } = ctx
    const deployment = settings.instancePrefix
    const { endpoints, address } = await endpointsOf(ctx, this.ingress.id, this.ingress.settings, {
      what: `Ingress '${settings.ingress!.name}'`,
      hostname: settings.ingress!.hostname,
    })
    const newcomers = plan.create.map((i) => plan.serving.find((s) => s.name === i.name)!)
    // Checked without traffic first only where something serves the name already; a first route
    // goes to serving at once (the name had no answer but the 404 before), as a new load-balancer
    // of a deployment's own starts with its instances: one reload less.
    if (newcomers.length > 0 && this.previous) {
      await this.change(this.routeOf(stillServing(ctx, this.state), newcomers), endpoints)
      await waitFor(ctx, endpoints, undefined, candidateBackendOf(deployment), newcomers, false)
    }
    const final = this.routeOf(plan.serving, [])
    if (JSON.stringify(final) !== JSON.stringify(this.previous)) {
      if (plan.removeAfter.length > 0)
        ctx.record.drain = {
          lb: this.ingress.id,
          oldWorkers: await haproxyWorkers(ctx.host, this.ingress.id, ctx.profile.processListArgs).catch(() => undefined),
        }
      await this.change(final, endpoints)
    }
    return { statuses: await waitFor(ctx, endpoints, undefined, servingBackendOf(deployment), plan.serving, true, newcomers), address }
  }

  async removeReplaced(): Promise<void> {}

  drain(): Promise<void> {
    return drainRecorded(this.ctx)
  }

  async restorePrevious(): Promise<void> {
    if (!this.changed) return
    const { settings } = this.ctx
    try {
      await this.underLock((host) =>
        restoreRoute(host, this.ctx.profile, settings.ingress!.name, settings.instancePrefix, this.previous, settings.haproxyImage),
      )
      log.info(`Restored the previous route of ${settings.ingress!.hostname} on ingress '${settings.ingress!.name}'`)
    } catch (error) {
      log.warning(`Could not restore the previous route on ingress '${settings.ingress!.name}': ${describe(error)}`)
    }
  }

  async startReplacedAgain(): Promise<string[]> {
    return []
  }

  // This deployment's route only: the other previews' names are theirs (the summary goes to this
  // repository's run).
  configWithoutSecrets(): string {
    return withoutStatsPassword(renderIngressConfig({ ...this.ingress.settings, routes: [this.routeOf(this.ctx.plan.serving, [])] }))
  }

  private routeOf(serving: Server[], candidates: Server[]): IngressRoute {
    const { settings } = this.ctx
    return {
      deployment: settings.instancePrefix,
      hostname: settings.ingress!.hostname,
      serving,
      candidates,
      healthCheckPath: settings.healthCheckPath,
      timeouts: { response: settings.timeouts.response, tunnel: settings.timeouts.tunnel },
      ...(settings.allowCidrs ? { allowedSources: settings.allowCidrs } : {}),
    }
  }

  // The record first, then the configuration of every record, checked by the ingress's own HAProxy:
  // another deployment's change under the same lock before or after this one is never lost.
  private async change(route: IngressRoute, endpoints: Endpoints): Promise<void> {
    const { ctx } = this
    ctx.signal?.throwIfAborted()
    await this.underLock(async (host) => {
      const records = await readRoutes(host, ctx.settings.ingress!.name)
      // Again under the lock: another deployment may have claimed the name since this run began.
      refuseTakenHostname(records.routes, ctx.settings.ingress!.name, route.hostname, route.deployment)
      if (!this.changed) ctx.record.remember({ routeChangedOn: { ingress: ctx.settings.ingress!.name, previous: this.previous } })
      this.changed = true
      ctx.record.changed = true
      await writeRoute(host, ctx.settings.ingress!.name, route, ctx.settings.haproxyImage)
      const configId = await reloadIngress(host, this.ingress, {
        ...records,
        routes: [...records.routes.filter((r) => r.deployment !== route.deployment), route],
      })
      await this.loaded(host, endpoints, configId)
    })
  }

  // Until the ingress serves the configuration of that id, still under the lock, so that the next
  // holder's reload comes only after this one took; one that did not take is signalled again. Seen
  // on Podman with five deploys at once: a route whose reload never showed, most likely a SIGUSR2
  // that came while HAProxy's master was still re-executing for the one before.
  private async loaded(host: DockerHost, endpoints: Endpoints, configId: string): Promise<void> {
    const { ctx } = this
    for (;;) {
      try {
        await ctx.waitUntilServing(endpoints, {
          backend: servingBackendOf(ctx.settings.instancePrefix),
          servers: [],
          configId,
          throughService: false,
          deadline: Math.min(ctx.deadline, Date.now() + SIGNAL_AGAIN_AFTER_MS),
          signal: ctx.signal,
        })
        return
      } catch (error) {
        if (!(error instanceof NotReadyError) || Date.now() >= ctx.deadline) throw error
      }
      log.info(`Ingress '${ctx.settings.ingress!.name}' has not loaded its new configuration after ${SIGNAL_AGAIN_AFTER_MS / 1000} s: signalling it again`)
      await host.signal(this.ingress.id, 'SIGUSR2')
    }
  }
}

// One deployment per host name: HAProxy would send the name's requests to the first route alone.
// Another repository's deployment may hold it, so it is not named.
function refuseTakenHostname(routes: IngressRoute[], ingress: string, hostname: string, deployment: string): void {
  const holder = routes.find((r) => r.hostname === hostname && r.deployment !== deployment)
  if (holder)
    throw new Error(
      `Host name ${hostname} is served on ingress '${ingress}' by another deployment already. Choose another hostname, or tear that deployment down first.`,
    )
}
