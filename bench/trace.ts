import type Docker from 'dockerode'
import { LABEL } from '../src/labels'
import { getFile } from '../src/docker/archive'
import { CONFIG_DIR, CONFIG_FILE, SERVING_BACKEND, STATS_CERTIFICATE_PATH, STATS_PATH, STATS_PORT } from '../src/haproxy/config'
import { basicAuthorization } from '../src/haproxy/basic-auth'
import { statsAuthIn } from '../src/haproxy/stats-auth'
import { isHealthy, parseStatsCsv } from '../src/haproxy/stats'
import { certificateIn } from '../src/haproxy/stats-certificate'
import { docker as dockerCli, tryDocker } from '../test-support/host'
import { getStatsPage } from '../test-support/stats-page'
import { seconds, sleep, type TimedRun } from './timing'

// Where a deploy's time goes. Three clocks on one axis (ms since the action was spawned): the
// action's own output lines as they arrive; the Docker host's Created/StartedAt of every container
// and the load-balancer's log (`docker logs -t`: when HAProxy resolved each instance, marked it
// DOWN); and what an observer polling HAProxy's stats page every OBSERVE_MS saw.

const OBSERVE_MS = 50

export interface Observer {
  // Epoch ms at which each instance was first healthy in the serving backend (UP, check passed).
  stop(): Promise<Map<string, number>>
}

export function observeLoadBalancer(docker: Docker, lbName: string): Observer {
  const healthy = new Map<string, number>()
  let running = true
  const poll = async (): Promise<void> => {
    let statsUrl: string | undefined
    let authorization = ''
    let certificate = ''
    while (running && !statsUrl) {
      const port = await docker
        .getContainer(lbName)
        .inspect()
        .then(
          (c) => c.NetworkSettings.Ports?.[`${STATS_PORT}/tcp`]?.[0]?.HostPort,
          () => undefined,
        )
      // The stats page wants the credentials the action put into the load-balancer's configuration,
      // and is trusted by its certificate, which the action put in beside it.
      const fileOf = (path: string) => getFile(docker.getContainer(lbName), path).catch(() => undefined)
      const auth = port ? statsAuthIn((await fileOf(`${CONFIG_DIR}/${CONFIG_FILE}`)) ?? '') : undefined
      const pem = auth ? await fileOf(STATS_CERTIFICATE_PATH) : undefined
      const trusted = pem && certificateIn(pem)
      if (port && auth && trusted) {
        statsUrl = `https://127.0.0.1:${port}${STATS_PATH};csv`
        authorization = basicAuthorization(auth)
        certificate = trusted
      } else await sleep(100)
    }
    while (running && statsUrl) {
      try {
        const { text: csv } = await getStatsPage(statsUrl, certificate, { authorization }, 1_000)
        const now = Date.now()
        for (const s of parseStatsCsv(csv)) if (s.backend === SERVING_BACKEND && isHealthy(s) && !healthy.has(s.server)) healthy.set(s.server, now)
      } catch {
        // not listening yet
      }
      await sleep(OBSERVE_MS)
    }
  }
  const polling = poll()
  return {
    stop: async () => {
      running = false
      await polling
      return healthy
    },
  }
}

export interface HostRecord {
  // Epoch ms per container name.
  created: Map<string, number>
  started: Map<string, number>
  // From the load-balancer's log: epoch ms per instance name, and those marked DOWN.
  resolved: Map<string, number>
  wentDown: Set<string>
}

// Read before the deployment is torn down.
export function recordHost(deployment: string, lbName: string): HostRecord {
  const record = { created: new Map<string, number>(), started: new Map<string, number>() }
  const ids = dockerCli('ps', '-aq', '--filter', `label=${LABEL.deployment}=${deployment}`).split('\n').filter(Boolean)
  for (const c of JSON.parse(dockerCli('inspect', ...ids)) as { Name: string; Created: string; State: { StartedAt: string } }[]) {
    const name = c.Name.replace(/^\//, '')
    record.created.set(name, Date.parse(c.Created))
    if (!c.State.StartedAt.startsWith('0001')) record.started.set(name, Date.parse(c.State.StartedAt))
  }
  return { ...record, ...parseLbLog(tryDocker('logs', '-t', lbName)) }
}

// When each serving instance was first resolved, and which were marked DOWN, from the
// load-balancer's `docker logs -t`.
// HAProxy writes each both to stderr and to its `log stdout`: the first occurrence counts.
export function parseLbLog(text: string): Pick<HostRecord, 'resolved' | 'wentDown'> {
  const events: Pick<HostRecord, 'resolved' | 'wentDown'> = { resolved: new Map(), wentDown: new Set() }
  const pattern = new RegExp(` (?:Server )?${SERVING_BACKEND}/(\\S+) (changed its IP from \\(none\\)|is DOWN,)`)
  for (const line of text.split('\n')) {
    const event = pattern.exec(line)
    if (!event) continue
    const at = Date.parse(line.slice(0, line.indexOf(' ')))
    const [, server, what] = event
    if (what.startsWith('changed') && !events.resolved.has(server)) events.resolved.set(server, at)
    if (what === 'is DOWN,') events.wentDown.add(server)
  }
  return events
}

const lineAt = (run: TimedRun, pattern: RegExp): number => {
  const line = run.lines.find((l) => pattern.test(l.text))
  if (!line) throw new Error(`trace: the action printed no line matching ${pattern}`)
  return line.ms
}
const maxOf = (xs: number[]): number => Math.max(...xs)
const medianOf = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

// The deploy's timeline, split into parts that add up to its total, next to the floor.
export function breakdown(run: TimedRun, host: HostRecord, healthy: Map<string, number>, lbName: string, floorMs: number): string {
  const at = (epoch: number): number => epoch - run.spawnedAt
  const instances = [...host.started.keys()].filter((name) => name !== lbName)
  const missing = instances.filter((name) => !healthy.has(name))
  if (missing.length > 0) throw new Error(`trace: the observer never saw ${missing.join(', ')} healthy`)
  const firstLine = run.lines[0].ms
  const pullStep = lineAt(run, /^▸ Pull images/)
  const pulled = lineAt(run, /^✓ Pull images/)
  const startStep = lineAt(run, /^▸ Start instances/)
  const lastStart = at(maxOf([...host.started.values()]))
  const lastResolved = host.resolved.size > 0 ? at(maxOf([...host.resolved.values()])) : lastStart
  const lastHealthy = at(maxOf(instances.map((name) => healthy.get(name)!)))
  const seenReady = lineAt(run, /^✓ Wait until/)
  const deployed = lineAt(run, /^Deployed:/)
  const afterResolve = Math.max(lastStart, lastResolved)
  const parts: [string, number, string][] = [
    ['Node start, until the first line', firstLine, ''],
    ['connect, check the host', pullStep - firstLine, ''],
    ["pulls (offline: two failed attempts, the host's copies inspected)", pulled - pullStep, ''],
    ['lock, read the deployment, plan', startStep - pulled, ''],
    ['network, create and start N+1 containers (8 at a time), until the last start', lastStart - startStep, `floor ${seconds(floorMs, 2)} s`],
    ['last start → last instance resolved by HAProxy (DNS)', afterResolve - lastStart, ''],
    ['→ last instance healthy in HAProxy (checks, rise 2)', lastHealthy - afterResolve, `observer polls every ${OBSERVE_MS} ms`],
    ['→ the action sees it (0.1 s poll, service probe)', seenReady - lastHealthy, ''],
    ['→ outputs, lock release', deployed - seenReady, ''],
    ['→ exit (job summary, Node exits)', run.ms - deployed, ''],
  ]
  const toHealthy = (names: string[]): string => {
    const ms = names.map((name) => healthy.get(name)! - host.started.get(name)!)
    return ms.length > 0 ? `median ${seconds(medianOf(ms), 2)} s, max ${seconds(maxOf(ms), 2)} s (${ms.length})` : 'none'
  }
  const resolvedBeforeStart = instances.filter((name) => (host.resolved.get(name) ?? Infinity) < host.started.get(name)!)
  const resolvedAfterStart = instances.filter((name) => (host.resolved.get(name) ?? -Infinity) >= host.started.get(name)!)
  const dnsWaits = resolvedAfterStart.map((name) => host.resolved.get(name)! - host.started.get(name)!)
  return [
    '| part | s | note |',
    '|---|---:|---|',
    ...parts.map(([part, ms, note]) => `| ${part} | ${seconds(ms, 2)} | ${note} |`),
    `| **total (action, deploy to ready and exit)** | **${seconds(run.ms, 2)}** | gap to the floor ${seconds(run.ms - floorMs, 2)} s |`,
    '',
    `Per instance, from its container's start to first healthy in HAProxy: ${toHealthy(instances)}; of those marked DOWN first ${toHealthy(instances.filter((n) => host.wentDown.has(n)))}, ` +
      `of the others ${toHealthy(instances.filter((n) => !host.wentDown.has(n)))}. ` +
      `${host.resolved.size} of ${instances.length} instances were not resolvable when HAProxy started (init-addr none, found by DNS later); ` +
      `${resolvedBeforeStart.length} were resolved before their container had started (Docker's DNS answers for a created container) and ${host.wentDown.size} were marked DOWN at least once before their first UP (a DOWN server is checked every downinter, 100 ms); ` +
      `resolved only after their start: ${resolvedAfterStart.length}${dnsWaits.length > 0 ? ` (median ${seconds(medianOf(dnsWaits), 2)} s, max ${seconds(maxOf(dnsWaits), 2)} s later)` : ''}. ` +
      `Last start ${seconds(lastStart, 2)} s, last resolved ${seconds(lastResolved, 2)} s, last healthy ${seconds(lastHealthy, 2)} s, action saw ready ${seconds(seenReady, 2)} s, exit ${seconds(run.ms, 2)} s after spawn.`,
  ].join('\n')
}
