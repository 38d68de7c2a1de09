// Deploy-to-ready benchmark. In one run, on the local Docker Engine (part A) and through the VCH
// stand-in (part B): the engine's floor (floor.ts), the action (dist/index.js, the CLI from start
// to exit) and the serial docker-CLI baseline (baseline.ts). Then (part C) an unchanged re-run, a
// redeploy under load (redeploy.ts) and the action's peak RSS, and (part D) where the time of one
// traced deploy goes (trace.ts).
//
//   npx tsx bench/deploy.ts [--sizes 3,20,50] [--proxy-sizes 20] [--start-delay-ms 3000] [--skip-proxy]
//                           [--repeat 1] [--rerun-size 20] [--trace-size 20] [--redeploy-instances 5]
//                           [--rss-size 100] [--trace] [--cli dist/index.js] [--out bench/results.md]
//
// A size of 0 skips that measurement. Writes the tables to --out, above its "## Analysis" section,
// which is kept as it is. Uses the local test images (scripts/build-test-images.sh); everything it
// creates is named bench-<random>… and removed after each run, on failure and on SIGINT/SIGTERM.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { connectEngine, type Engine } from '../src/docker/engine'
import { resolveTarget } from '../src/docker/target'
import { docker, freePort, tryDocker } from '../test-support/host'
import { startVchProxy } from '../test-support/vch-proxy'
import { runBaseline } from './baseline'
import { timeFloor } from './floor'
import { ACTION_REDEPLOY, measureRedeploy } from './redeploy'
import { breakdown, observeLoadBalancer, recordHost } from './trace'
import { killRunning, median, rendered, seconds, timed, timeUntilServing, type TimedRun } from './timing'

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,20,50' },
    'proxy-sizes': { type: 'string', default: '20' },
    'start-delay-ms': { type: 'string', default: '3000' },
    'skip-proxy': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    'rerun-size': { type: 'string', default: '20' },
    'trace-size': { type: 'string', default: '20' },
    'redeploy-instances': { type: 'string', default: '5' },
    'rss-size': { type: 'string', default: '100' },
    trace: { type: 'boolean', default: false },
    cli: { type: 'string', default: path.resolve(__dirname, '../dist/index.js') },
    out: { type: 'string', default: path.resolve(__dirname, 'results.md') },
  },
})
const sizesOf = (list: string): number[] =>
  list
    .split(',')
    .map(Number)
    .filter((n) => n > 0)
const REPEAT = Number(flags.repeat)
const CLI = flags.cli
const TIME = '/usr/bin/time'
const WEB_IMAGE = 'vic-lb-test/web:1'
const HAPROXY_IMAGE = 'vic-lb-test/haproxy:2.6'
// The floor's concurrency: the action's on a plain engine (deploy.ts STARTS_AT_ONCE.engine).
const FLOOR_AT_ONCE = 8
// The action's on a VCH (STARTS_AT_ONCE.vch): through the stand-in the floor is also shown at it.
const VCH_AT_ONCE = 25
const WAIT_TIMEOUT_S = 300
const ID = `bench-${randomBytes(3).toString('hex')}`
// Stands in for a VCH's --container-network, where the baseline puts its load-balancer.
const ROUTABLE = `${ID}-routable`
const WORK = mkdtempSync(path.join(os.tmpdir(), `${ID}-`))
let runs = 0 // each deploy gets its own names, so that nothing one run leaves can help the next

const actionEnv = { ...process.env, GITHUB_OUTPUT: '/dev/null' }
const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

interface ActionRun {
  ms: number
  verifyMs: number
  rerun?: TimedRun
  trace?: string
}

// The action: the bundled CLI from start to exit, then an independent check through the LB.
async function runAction(n: number, opts: { dockerHost?: string; rerun?: boolean; traceAgainstFloorMs?: number; local: Engine }): Promise<ActionRun> {
  const prefix = `${ID}-act${++runs}`
  const lbName = `${prefix}-lb`
  const args = ['deploy', '--image', WEB_IMAGE, '--haproxy-image', HAPROXY_IMAGE, '--external-network=', '--lb-port', String(await freePort())]
  args.push('--instance-prefix', prefix, '--lb-name', lbName, '--instances', String(n), '--wait-timeout', String(WAIT_TIMEOUT_S))
  if (opts.dockerHost) args.push('--docker-host', opts.dockerHost)
  const where = `action, N=${n}${opts.dockerHost ? ' via the stand-in' : ''}`
  try {
    const observer = opts.traceAgainstFloorMs !== undefined ? observeLoadBalancer(opts.local.docker, lbName) : undefined
    const run = await timed(process.execPath, [CLI, ...args], { env: actionEnv })
    const healthy = await observer?.stop()
    if (flags.trace) console.error(`--- ${where}:\n${rendered(run.lines)}`)
    if (run.code !== 0) throw new Error(`${where} exited ${run.code}:\n${rendered(run.lines.slice(-20))}`)
    const url = `http://127.0.0.1:${args[args.indexOf('--lb-port') + 1]}/`
    const verifyMs = await timeUntilServing(url, n, Date.now() + 15_000).catch((error: Error) => {
      throw new Error(`${where} reported ready but the LB does not serve from ${n} instances: ${error.message}`)
    })
    const result: ActionRun = { ms: run.ms, verifyMs }
    if (healthy) result.trace = breakdown(run, recordHost(prefix, lbName), healthy, lbName, opts.traceAgainstFloorMs!)
    if (opts.rerun) result.rerun = await unchangedRerun(args, where)
    return result
  } finally {
    const teardown = await timed(process.execPath, [
      CLI,
      'teardown',
      '--instance-prefix',
      prefix,
      ...(opts.dockerHost ? ['--docker-host', opts.dockerHost] : []),
    ])
    if (teardown.code !== 0) console.error(`warning: teardown of ${prefix} exited ${teardown.code}: ${teardown.lines.at(-1)?.text}`)
    sweep()
  }
}

// The same deploy again: it must find everything as wanted and change nothing.
async function unchangedRerun(args: string[], where: string): Promise<TimedRun> {
  const rerun = await timed(process.execPath, [CLI, ...args], { env: actionEnv })
  if (flags.trace) console.error(`--- re-run of the ${where}:\n${rendered(rerun.lines)}`)
  if (rerun.code !== 0 || !rerun.lines.some((l) => l.text.startsWith('Unchanged:')))
    throw new Error(`the unchanged re-run of the ${where} exited ${rerun.code} without saying Unchanged:\n${rendered(rerun.lines.slice(-20))}`)
  return rerun
}

// The baseline, then the wait until N distinct instances answer through its LB's address on the
// routable network: it has no readiness check of its own.
async function runBaselineToReady(n: number, env: NodeJS.ProcessEnv = {}): Promise<{ ms: number; scriptMs: number; waitMs: number }> {
  try {
    docker('network', 'create', ROUTABLE)
    const run = await runBaseline({
      name: `${ID}-base${++runs}`,
      instances: n,
      webImage: WEB_IMAGE,
      haproxyImage: HAPROXY_IMAGE,
      routableNetwork: ROUTABLE,
      workDir: WORK,
      env,
    })
    if (flags.trace)
      console.error(
        `--- baseline, N=${n}:\n${run.calls.map((c) => `${seconds(c.ms, 2).padStart(7)}s  docker ${c.args.join(' ')}${c.failed ? ` (failed: ${c.failed})` : ''}`).join('\n')}`,
      )
    const ip = tryDocker('inspect', '-f', `{{(index .NetworkSettings.Networks "${ROUTABLE}").IPAddress}}`, run.lbName)
    if (!ip) throw new Error(`the baseline's LB has no address on ${ROUTABLE}`)
    const waitMs = await timeUntilServing(`http://${ip}:80/`, n, Date.now() + WAIT_TIMEOUT_S * 1000).catch((error: Error) => {
      throw new Error(`${error.message}\nbaseline LB logs:\n${tryDocker('logs', '--tail', '20', run.lbName)}`)
    })
    return { ms: run.ms + waitMs, scriptMs: run.ms, waitMs }
  } finally {
    sweep()
  }
}

async function runFloor(engine: Engine, n: number, concurrency: number): Promise<number> {
  try {
    return await timeFloor(engine.docker, { name: `${ID}-floor${++runs}`, instances: n, concurrency, webImage: WEB_IMAGE, haproxyImage: HAPROXY_IMAGE })
  } finally {
    sweep()
  }
}

// Removes every container and network of this benchmark (synchronous: also runs on a signal).
function sweep(): void {
  const mine = (name: string): boolean => name.startsWith(`${ID}-`)
  const containers = (): string[] => tryDocker('ps', '-a', '--format', '{{.Names}}').split('\n').filter(mine)
  const networks = (): string[] => tryDocker('network', 'ls', '--format', '{{.Name}}').split('\n').filter(mine)
  const names = containers()
  if (names.length) tryDocker('rm', '-f', ...names)
  for (const network of networks()) tryDocker('network', 'rm', network)
  const left = [...containers(), ...networks()]
  if (left.length) console.error(`warning: could not remove ${left.join(', ')}`)
}

function cleanUp(): void {
  killRunning()
  sweep()
  rmSync(WORK, { recursive: true, force: true })
}

interface Row {
  n: number
  floor: number
  vchFloor?: number
  action: number
  verifyMs: number
  baseline: number
  baselineScript: number
  baselineWait: number
}

// Floor, action and baseline one after the other for each size, `--repeat` times; medians.
async function measure(
  local: Engine,
  sizes: number[],
  via?: { engine: Engine; url: string; env: NodeJS.ProcessEnv },
): Promise<{ rows: Row[]; rerun?: TimedRun }> {
  const rows: Row[] = []
  let rerun: TimedRun | undefined
  const engine = via?.engine ?? local
  for (const n of sizes) {
    const samples: Row[] = []
    for (let i = 0; i < REPEAT; i++) {
      const floor = await runFloor(engine, n, FLOOR_AT_ONCE)
      const vchFloor = via ? await runFloor(engine, n, VCH_AT_ONCE) : undefined
      const action = await runAction(n, { dockerHost: via?.url, rerun: !via && n === Number(flags['rerun-size']) && !rerun, local })
      rerun ??= action.rerun
      const baseline = await runBaselineToReady(n, via?.env)
      samples.push({
        n,
        floor,
        vchFloor,
        action: action.ms,
        verifyMs: action.verifyMs,
        baseline: baseline.ms,
        baselineScript: baseline.scriptMs,
        baselineWait: baseline.waitMs,
      })
      console.error(
        `${via ? 'B' : 'A'} N=${n}: floor ${seconds(floor, 2)} s${vchFloor ? ` (${VCH_AT_ONCE} at once ${seconds(vchFloor, 2)} s)` : ''}, action ${seconds(action.ms, 2)} s, baseline ${seconds(baseline.ms, 2)} s; load ${loadAverage()}`,
      )
    }
    // Each column's own median: the runs are not paired.
    const m = (key: (r: Row) => number): number => key(median(samples, key))
    rows.push({
      n,
      floor: m((r) => r.floor),
      vchFloor: via ? m((r) => r.vchFloor!) : undefined,
      action: m((r) => r.action),
      verifyMs: m((r) => r.verifyMs),
      baseline: m((r) => r.baseline),
      baselineScript: m((r) => r.baselineScript),
      baselineWait: m((r) => r.baselineWait),
    })
  }
  return { rows, rerun }
}

function table(rows: Row[]): string {
  const vch = rows.some((r) => r.vchFloor !== undefined)
  const lines = [
    `| N | floor, ${FLOOR_AT_ONCE} at a time (s) | action (s) | action/floor |${vch ? ` floor, ${VCH_AT_ONCE} at a time (s) | action/that |` : ''} baseline (s) | action/baseline | baseline script + wait (s) | check after action (s) |`,
    `|---:|---:|---:|---:|${vch ? '---:|---:|' : ''}---:|---:|---:|---:|`,
  ]
  for (const r of rows)
    lines.push(
      `| ${r.n} | ${seconds(r.floor, 2)} | ${seconds(r.action, 2)} | ${(r.action / r.floor).toFixed(2)} |` +
        (vch ? ` ${seconds(r.vchFloor!, 2)} | ${(r.action / r.vchFloor!).toFixed(2)} |` : '') +
        ` ${seconds(r.baseline, 2)} | ${(r.action / r.baseline).toFixed(2)} | ${seconds(r.baselineScript, 2)} + ${seconds(r.baselineWait, 2)} | ${seconds(r.verifyMs, 2)} |`,
    )
  return lines.join('\n')
}

// A run's step lines, without its warnings and details, and when it exited.
function steps(run: TimedRun): string {
  const shown = run.lines.filter((l) => /^(▸|✓|Started|Created|Removed|Generation|Deployed|Unchanged)/.test(l.text.trimStart()))
  return rendered([...shown, { ms: run.ms, text: '(exit)' }])
}

// The action's peak resident set size, as /usr/bin/time -v reports it for the node process.
async function peakRss(n: number): Promise<{ mb: number; ms: number }> {
  const prefix = `${ID}-rss${++runs}`
  const args = ['deploy', '--image', WEB_IMAGE, '--haproxy-image', HAPROXY_IMAGE, '--external-network=', '--lb-port', String(await freePort())]
  args.push('--instance-prefix', prefix, '--lb-name', `${prefix}-lb`, '--instances', String(n), '--wait-timeout', String(WAIT_TIMEOUT_S))
  try {
    const run = await timed(TIME, ['-v', process.execPath, CLI, ...args], { env: actionEnv })
    if (flags.trace) console.error(`--- action under ${TIME} -v, N=${n}:\n${rendered(run.lines)}`)
    if (run.code !== 0) throw new Error(`the action at N=${n} under ${TIME} exited ${run.code}:\n${rendered(run.lines.slice(-30))}`)
    const kb = run.lines.map((l) => /Maximum resident set size \(kbytes\): (\d+)/.exec(l.text)?.[1]).find(Boolean)
    if (!kb) throw new Error(`${TIME} -v printed no "Maximum resident set size"`)
    return { mb: Number(kb) / 1024, ms: run.ms }
  } finally {
    await timed(process.execPath, [CLI, 'teardown', '--instance-prefix', prefix])
    sweep()
  }
}

async function main(): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      console.error(`\n${signal}: cleaning up ${ID}*`)
      cleanUp()
      process.exit(130)
    })
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`)
  for (const image of [WEB_IMAGE, HAPROXY_IMAGE])
    if (!tryDocker('image', 'inspect', '-f', '{{.Id}}', image)) throw new Error(`${image} is missing: run scripts/build-test-images.sh`)
  const rssSize = Number(flags['rss-size'])
  if (rssSize > 0 && !existsSync(TIME))
    throw new Error(`${TIME} is missing, which measures the peak RSS: install it (Debian: apt-get install time), or pass --rss-size 0`)
  const noTls = { verify: true }
  const local = await connectEngine(resolveTarget('', noTls, {}))
  const loadAtStart = loadAverage()

  const out = [
    "## Deploy to ready: the action against the engine's floor and the baseline",
    '',
    `Written by \`npx tsx bench/deploy.ts\` at ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${os.availableParallelism()} CPUs, ` +
      `Docker Engine ${docker('version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})')}, Node ${process.version}; ` +
      `images ${WEB_IMAGE} (busybox httpd) and ${HAPROXY_IMAGE}; offline, every pull fails and the host's copy is used. ` +
      `${REPEAT > 1 ? `Medians of ${REPEAT} runs` : 'One run each'}. Load average (1, 5, 15 min) at the start: ${loadAtStart}.`,
    '',
    `**floor**: a user-defined bridge, then N instances and the load-balancer container created and started through the Engine API ` +
      `(dockerode, the action's client and queue), ${FLOOR_AT_ONCE} at a time, nothing else (bench/floor.ts). **action**: \`node dist/index.js deploy ... --external-network=\` ` +
      'from spawn to exit; it returns once HAProxy reports every instance healthy and the load-balancer answers; then an independent check that ' +
      'N distinct instances answer through it. **baseline**: the serial docker-CLI way (pull, network create, N× `docker run -d`, write haproxy.cfg, ' +
      '`docker create` the LB on the routable network, `network connect`, `docker cp`, `docker start`; bench/baseline.ts), plus the time until N ' +
      "distinct instances answer through its LB's address, since it has no readiness check.",
    '',
    '### A. Local Docker Engine',
    '',
  ]
  const partA = await measure(local, sizesOf(flags.sizes))
  out.push(table(partA.rows))
  if (!flags['skip-proxy'] && sizesOf(flags['proxy-sizes']).length > 0) {
    const delay = Number(flags['start-delay-ms'])
    const proxy = await startVchProxy({ mode: 'vch', startDelayMs: delay })
    try {
      const engine = await connectEngine(resolveTarget(proxy.url, noTls, {}))
      const partB = await measure(local, sizesOf(flags['proxy-sizes']), { engine, url: proxy.url, env: { DOCKER_HOST: proxy.url, DOCKER_API_VERSION: '1.25' } })
      out.push(
        '',
        `### B. Through the VCH stand-in (test-support/vch-proxy.ts: API 1.25, ${delay / 1000} s added to every container start)`,
        '',
        `The floor goes through the stand-in too. The action starts ${VCH_AT_ONCE} at a time on a VCH, so the floor is also shown at that concurrency.`,
        '',
        table(partB.rows),
      )
    } finally {
      await proxy.close()
    }
  }

  const extras: string[] = []
  const rerunSize = Number(flags['rerun-size'])
  let rerunTimeline = ''
  if (rerunSize > 0) {
    const rerun = partA.rerun ?? (await runAction(rerunSize, { rerun: true, local })).rerun!
    extras.push(`| unchanged re-run, N=${rerunSize} (spawn to exit, says Unchanged) | ${seconds(rerun.ms, 2)} s | ≤ 0.5 s |`)
    rerunTimeline = steps(rerun)
  }
  const redeployN = Number(flags['redeploy-instances'])
  let redeployTimeline = ''
  if (redeployN > 0) {
    const results = []
    for (let i = 0; i < REPEAT; i++) results.push(await measureRedeploy({ cli: CLI, instances: redeployN, concurrency: 8 }, ACTION_REDEPLOY))
    const r = median(results, (x) => x.seconds)
    extras.push(
      `| redeploy of N=${redeployN} to a new image under load (8 keep-alive clients) | ${r.seconds.toFixed(2)} s, ${r.load.failed} of ${r.load.total} requests failed | ≤ 5 s, 0 failed |`,
    )
    redeployTimeline = steps(r.runs[0])
  }
  if (rssSize > 0) {
    const rss = await peakRss(rssSize)
    extras.push(
      `| peak RSS of the action (node), deploy of N=${rssSize} (${TIME} -v) | ${rss.mb.toFixed(0)} MB (deploy took ${seconds(rss.ms)} s) | ≤ 100 MB |`,
    )
  }
  if (extras.length > 0)
    out.push('', '### C. Re-run, redeploy, memory (local engine)', '', '| measure | result | target (issue 11) |', '|---|---|---|', ...extras)
  if (rerunTimeline)
    out.push('', "The unchanged re-run's steps as the action printed them (seconds since spawn; last line at exit):", '', '```', rerunTimeline, '```')
  if (redeployTimeline)
    out.push('', "The redeploy's steps as the action printed them (seconds since spawn; last line at exit):", '', '```', redeployTimeline, '```')

  const traceSize = Number(flags['trace-size'])
  if (traceSize > 0) {
    // Its own floor, right before it: on a busy host part A's may be from another minute's load.
    const floor = await runFloor(local, traceSize, FLOOR_AT_ONCE)
    const traced = await runAction(traceSize, { traceAgainstFloorMs: floor, local })
    out.push(
      '',
      `### D. Where the time goes: one traced deploy, N=${traceSize}, local engine`,
      '',
      `Its own run (an observer polls HAProxy's stats page meanwhile), against a floor measured right before it. Times from the action's output lines, ` +
        "the containers' Created/StartedAt, the load-balancer's log (`docker logs -t`) and the observer, on one clock.",
      '',
      traced.trace!,
    )
  }
  out.push('', `Load average at the end: ${loadAverage()}.`)
  const measuredText = out.join('\n') + '\n'
  console.log(`\n${measuredText}`)
  // The hand-written analysis below the figures stays.
  const previous = existsSync(flags.out) ? readFileSync(flags.out, 'utf8') : ''
  const analysis = previous.indexOf('\n## Analysis')
  writeFileSync(flags.out, analysis >= 0 ? measuredText + previous.slice(analysis) : measuredText)
}

main()
  .catch((error: unknown) => {
    console.error(`benchmark failed: ${(error as Error).message ?? error}`)
    process.exitCode = 1
  })
  .finally(cleanUp)
