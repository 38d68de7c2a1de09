import { log } from '../log'
import { describe } from '../docker/engine'
import type { ContainerDetails } from '../docker/deploy-host'
import type { DeploymentState } from '../docker/state'
import {
  CANDIDATE_BACKEND,
  CERTIFICATE_FILE,
  CONFIG_FILE,
  SERVING_BACKEND,
  SERVICES_BACKEND,
  STATS_PATH,
  STATS_PORT,
  configIdOf,
  renderConfigToCheck,
  renderHaproxyConfig,
  type LbConfig,
  type LbSettings,
  type Server,
} from '../haproxy/config'
import { checkInside, drainOldWorkers, haproxyWorkers, keepPreviousConfig, loadConfig, putCertificate } from '../haproxy/reload'
import { describeServer, type ServerStatus } from '../haproxy/stats'
import { basicAuthorization } from '../haproxy/basic-auth'
import { NotReadyError, hostForUrl, type Endpoints } from '../readiness'
import type { StepContext } from './context'
import type { ServiceAddress, Switched } from './load-balancer'

// Whether a kept load-balancer loads the deploy's configuration, and the candidates' staging one
// first (when there are newcomers). Neither when nothing changes, or when the load-balancer is new.
export interface Reloads {
  staging?: LbConfig
  changed: boolean
}

// Everything a kept load-balancer's reloads need that does not depend on the new instances having
// started: the previous configuration kept for the undo, certificates put in, and both
// configurations checked by its own HAProxy. Runs while the instances start, so that the checks
// (an exec each) are off the deploy's critical path. keptFiles: what its CONFIG_DIR holds.
export async function prepareReloads(ctx: StepContext, lbConfig: LbConfig, state: DeploymentState, keptFiles: Map<string, string>): Promise<Reloads> {
  const { host, settings, plan, record } = ctx
  if (plan.lb !== 'keep') return { changed: false }
  const lb = state.lb!.id
  const current = keptFiles.get(CONFIG_FILE)
  const target = renderHaproxyConfig(lbConfig)
  // A new certificate is put in and loaded by the same graceful reload as a configuration.
  const certificate = settings.certificate && keptFiles.get(CERTIFICATE_FILE)
  const newCertificate = settings.certificate && certificate !== settings.certificate.pem
  // Unchanged, unless the services' wait (waitForServices) has loaded another configuration since.
  if (current === target && !newCertificate && !record.previousConfig) return { changed: false }
  await keepPrevious(ctx, lb, lbConfig, keptFiles)
  if (newCertificate) await putCertificate(host, lb, 'service', settings.certificate!.pem, settings.lbName)
  const user = (await host.inspect(lb)).Config.User ?? ''
  const newcomers = plan.create.map((i) => lbConfig.serving.find((s) => s.name === i.name)!)
  const staging = newcomers.length > 0 ? { ...lbConfig, serving: stillServing(ctx, state), candidates: newcomers } : undefined
  for (const config of staging ? [staging, lbConfig] : [lbConfig]) {
    ctx.signal?.throwIfAborted()
    await checkInside(host, lb, settings.lbName, user, renderConfigToCheck(config))
  }
  return { staging, changed: true }
}

// Before a kept load-balancer's configuration first changes in a run: the previous one is kept for
// the undo (in memory) and for the post step of a killed run (inside it). One made by an earlier
// version of the action gets the stats page's certificate before a configuration that needs it.
async function keepPrevious(ctx: StepContext, lb: string, lbConfig: LbConfig, keptFiles: Map<string, string>): Promise<void> {
  const { host, settings, record } = ctx
  if (record.previousConfig) return
  ctx.signal?.throwIfAborted()
  const current = keptFiles.get(CONFIG_FILE) ?? ''
  const certificate = settings.certificate && keptFiles.get(CERTIFICATE_FILE)
  record.previousConfig = { lb, text: current, certificate }
  await keepPreviousConfig(host, lb, current, certificate || undefined)
  record.remember({ configChangedOn: lb })
  if (!lbConfig.statsCertificate.inside) await putCertificate(host, lb, 'stats', lbConfig.statsCertificate.pem, settings.lbName)
}

// Until the companion services with a port accept connections as the load-balancer's health
// check sees them (SERVICES_BACKEND), before any instance starts. A kept load-balancer first loads
// the services beside what it serves now (checked by its own HAProxy, the previous configuration
// kept for the undo); a new one started with them.
export async function waitForServices(ctx: StepContext, lb: string, lbConfig: LbConfig, state: DeploymentState, keptFiles: Map<string, string>): Promise<void> {
  const servers = lbConfig.services ?? []
  const config = ctx.plan.lb === 'keep' ? { ...lbConfig, serving: stillServing(ctx, state), candidates: [] } : lbConfig
  if (ctx.plan.lb === 'keep' && renderHaproxyConfig(config) !== keptFiles.get(CONFIG_FILE)) {
    await keepPrevious(ctx, lb, lbConfig, keptFiles)
    await checkInside(ctx.host, lb, ctx.settings.lbName, (await ctx.host.inspect(lb)).Config.User ?? '', renderConfigToCheck(config))
    await reload(ctx, lb, config)
  }
  await failIfExited(ctx)
  const { endpoints } = await endpointsOf(ctx, lb, lbConfig, ownServed(ctx))
  await waitFor(ctx, endpoints, configIdOf(config), SERVICES_BACKEND, servers, false)
}

// New instances join through the candidates backend: health-checked first, given traffic only
// once healthy, so a kept load-balancer never sends requests to an instance that is not ready.
export async function switchTraffic(ctx: StepContext, lb: string, lbConfig: LbConfig, { staging, changed }: Reloads): Promise<Switched> {
  const { host, plan, record } = ctx
  await failIfExited(ctx)
  const { endpoints, address } = await endpointsOf(ctx, lb, lbConfig, ownServed(ctx))
  if (staging) {
    await reload(ctx, lb, staging)
    await waitFor(ctx, endpoints, configIdOf(staging), CANDIDATE_BACKEND, staging.candidates, false)
  }
  if (changed) {
    if (plan.removeAfter.length > 0) record.drain = { lb, oldWorkers: await haproxyWorkers(host, lb, ctx.profile.processListArgs).catch(() => undefined) }
    await reload(ctx, lb, lbConfig)
  }
  // The candidates just passed their checks: the new worker need not check them again first.
  return { statuses: await waitFor(ctx, endpoints, configIdOf(lbConfig), SERVING_BACKEND, lbConfig.serving, true, staging?.candidates), address }
}

// Until the workers the final reload replaced (record.drain) no longer send requests to the
// instances that leave.
export async function drainRecorded({ host, record, profile, settings }: StepContext): Promise<void> {
  if (record.drain) await drainOldWorkers(host, record.drain.lb, profile.processListArgs, record.drain.oldWorkers, settings.timeouts.drain)
}

// Instances the kept load-balancer may go on using while newcomers are checked.
export function stillServing({ plan }: StepContext, state: DeploymentState): Server[] {
  const gone = new Set(plan.removeFirst.map((i) => i.id))
  return state.instances.filter((i) => i.running && !gone.has(i.id)).map((i) => ({ name: i.name, port: i.port }))
}

// Checked by prepareReloads.
async function reload(ctx: StepContext, lb: string, config: LbConfig): Promise<void> {
  ctx.signal?.throwIfAborted()
  await loadConfig(ctx.host, lb, renderHaproxyConfig(config))
  ctx.record.changed = true
}

// Until the servers of `backend` are healthy, and the load-balancer serves under the configuration
// of that id, when one is given (a shared ingress's may have been reloaded by another deployment since).
export async function waitFor(
  ctx: StepContext,
  endpoints: Endpoints,
  configId: string | undefined,
  backend: string,
  servers: Server[],
  throughService: boolean,
  admitted: Server[] = [],
): Promise<ServerStatus[]> {
  const names = servers.map((s) => s.name)
  try {
    return await ctx.waitUntilServing(endpoints, {
      backend,
      servers: names,
      admitted: admitted.map((s) => s.name),
      configId,
      throughService,
      deadline: ctx.deadline,
      check: () => failIfExited(ctx),
      signal: ctx.signal,
    })
  } catch (error) {
    if (error instanceof NotReadyError) await showLogs(ctx, error.unhealthy, error.statuses, backend)
    throw error
  }
}

// A container of this run that exits will never become healthy: say so now, not at the timeout.
async function failIfExited(ctx: StepContext): Promise<void> {
  const { host, settings, plan } = ctx
  const watched = [...plan.create.map((i) => i.name), ...ctx.services.start.map((s) => s.name), ...(plan.lb === 'keep' ? [] : [settings.lbName])]
  if (watched.length === 0) return
  const stopped = await host.listStopped(settings.instancePrefix, ctx.profile.stoppedStatuses)
  const dead = stopped.find((c) => watched.includes(c.name))
  if (!dead) return
  const { State } = await host.inspect(dead.id)
  // Started again by its restart policy: Podman restarts at once, so it is judged once its restarts
  // are used up and it stays down; dockerd waits before each restart and shows it restarting
  // meanwhile, which is a crash at start. Either way with the exit code of its last run.
  if (State.Running && !State.Restarting) return
  throw await crashedAtStart(ctx, dead, State.ExitCode)
}

async function crashedAtStart(ctx: StepContext, container: { id: string; name: string }, exitCode: number): Promise<Error> {
  const { settings } = ctx
  const logs = await ctx.host.recentLogs(container.id, 20).catch(() => '(logs unavailable)')
  const service = ctx.services.start.find((s) => s.name === container.name)
  const [what, image] =
    container.name === settings.lbName
      ? [`Load-balancer ${settings.lbName}`, settings.haproxyImage]
      : service
        ? [`Service ${service.spec.name} (container ${container.name})`, service.spec.image]
        : [`Instance ${container.name}`, settings.image]
  return new Error(
    `${what} exited with code ${exitCode} right after starting. Its last log lines:\n${logs.trimEnd() || '(none)'}\nCheck that ${image} runs a long-lived service with this configuration.`,
  )
}

async function showLogs(ctx: StepContext, unhealthy: string[], statuses: ServerStatus[], backend: string): Promise<void> {
  const lbName = ctx.settings.lbName
  // Not a shared ingress's log: it names the other deployments it routes, maybe other repositories'.
  for (const name of [...(ctx.settings.ingress ? [] : [lbName]), ...unhealthy]) {
    const state = name === lbName ? '' : ` (${describeServer(statuses, backend, name)})`
    const logs = await ctx.host.recentLogs(name).catch((error) => `(logs unavailable: ${describe(error)})`)
    await log.group(`Logs of ${name}${state}`, async () => log.quote(logs.trimEnd() || '(no output)'))
  }
  if (unhealthy.length > 0)
    log.error(`Not healthy behind the load-balancer: ${unhealthy.map((n) => `${n} ${describeServer(statuses, backend, n)}`).join('; ')}`)
}

// The load-balancer's address (on the external network, else the host's published address) and
// where its stats page is reached there; empty or 0 where the container has none (yet).
export function statsAddressOf({ settings, publishedHost }: StepContext, inspected: ContainerDetails): { ip: string; statsHostPort: number } {
  if (settings.externalNetwork) return { ip: inspected.NetworkSettings.Networks[settings.externalNetwork]?.IPAddress ?? '', statsHostPort: STATS_PORT }
  return { ip: publishedHost, statsHostPort: Number(inspected.NetworkSettings.Ports?.[`${STATS_PORT}/tcp`]?.[0]?.HostPort) || 0 }
}

// How the service is reached through a load-balancer: the deployment's own under its lb-name, or a
// shared ingress (src/ingress) under the deployment's host name.
export interface Served {
  what: string
  hostname?: string
}

function ownServed({ settings }: StepContext): Served {
  return { what: `Load-balancer ${settings.lbName}` }
}

// Where the load-balancer serves and shows its stats.
export async function endpointsOf(
  ctx: StepContext,
  lb: string,
  lbConfig: LbSettings,
  served: Served,
): Promise<{ endpoints: Endpoints; address: ServiceAddress }> {
  const { settings } = ctx
  const inspected = await ctx.host.inspect(lb)
  const { ip, statsHostPort } = statsAddressOf(ctx, inspected)
  if (settings.externalNetwork && !ip)
    throw new Error(`${served.what} got no address on network ${settings.externalNetwork}. Check that the network hands out addresses (its IP range or DHCP).`)
  if (!statsHostPort) {
    // A new load-balancer that crashes has no ports between two restarts, and shows as running
    // (not stopped) for a moment after each: judged by this inspect, not by the list.
    const { State } = inspected
    if (ctx.plan.lb !== 'keep' && (!State.Running || State.Restarting)) throw await crashedAtStart(ctx, { id: lb, name: settings.lbName }, State.ExitCode)
    throw new Error(`${served.what} has no published ports: it is not running (state: ${inspected.State.Status}).`)
  }
  const port = settings.lbPort
  const scheme = settings.protocol === 'tcp' ? 'tcp' : settings.certificate ? 'https' : 'http'
  const defaultPort = { http: 80, https: 443, tcp: 0 }[scheme]
  const url = `${scheme}://${served.hostname ?? hostForUrl(ip)}${port === defaultPort ? '' : `:${port}`}`
  return {
    endpoints: {
      statsUrl: `https://${hostForUrl(ip)}:${statsHostPort}${STATS_PATH}`,
      statsAuthorization: basicAuthorization(lbConfig.statsAuth),
      statsCertificate: lbConfig.statsCertificate.certificate,
      serviceHost: ip,
      servicePort: port,
      protocol: settings.protocol,
      certificateFingerprint: settings.certificate?.fingerprint256,
      serviceAuthorization: settings.basicAuth && basicAuthorization(settings.basicAuth[0]!),
      serviceName: served.hostname,
    },
    address: { ip, port, url },
  }
}
