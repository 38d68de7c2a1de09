// Deploy-to-ready benchmark (issue 21): each figure is the median of per-run paired values, the
// action against a reference timed right before it in the same run, printed beside its target.
// The action runs as action.yml's runtime runs it: dist/index.js on Node 24 (scripts/node24.sh
// installs the npm package node@24 into a cache directory), with its compile cache warmed first.
//
//   A. local engine, N=3, 20, 50: the engine's floor (floor.ts, at the action's concurrency there),
//      then the action; action/floor, and at N=3 action − floor. The docker-CLI baseline
//      (baseline.ts) after them at N=20, for comparison only (--baseline-sizes, '' skips it).
//   B. through the VCH stand-in (test-support/vch-proxy.ts, 3 s per start), N=20 and 100: the floor
//      at the action's concurrency on a VCH, then the action.
//   C. an unchanged re-run (`--pull missing`, right after A's deploy of --rerun-size) against the
//      bundle's own start-up (`--help`, timed right before it); a redeploy of N=5 under load
//      (redeploy.ts) against the floor of 5, and its failed requests; the peak RSS at N=100.
//   D. where the time of one traced deploy goes (trace.ts): bench/results.md only.
//   E. a redeploy of N=3 to a new image on trixie's Podman 5.4 against the same on its Docker
//      Engine 26.1 (engines.ts; scripts/setup-trixie-engines.sh starts them), run after run.
//
//   npm run bench      (= npx tsx bench/deploy.ts --readme)
//   npx tsx bench/deploy.ts [--repeat 3] [--sizes 3,20,50] [--baseline-sizes 20] [--proxy-sizes 20,100]
//                           [--start-delay-ms 3000] [--rerun-size 20] [--redeploy-instances 5] [--rss-size 100]
//                           [--trace-size 20] [--engines-redeploy 3] [--trace] [--node PATH] [--cli dist/index.js]
//                           [--haproxy-image vic-lb-test/haproxy:2.6] [--out bench/results.md] [--readme]
//
// A size of 0 (or an empty list) skips that measurement. Prints the figures; writes everything to
// --out and, with --readme, the figures into README.md between its bench:deploy markers. Uses the
// local test images (scripts/build-test-images.sh); everything it creates is named bench-<random>…
// and removed after each run, on failure and on SIGINT/SIGTERM.
import { execFileSync } from 'node:child_process'
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
import { engineDescription, timeRedeploy, type EngineRun } from './engines'
import { differenceFigure, figuresReport, maxFigure, ratioFigure, replaceBetween, type Figure, type Pair } from './figures'
import { timeFloor } from './floor'
import { ACTION_REDEPLOY, measureRedeploy } from './redeploy'
import { breakdown, observeLoadBalancer, recordHost } from './trace'
import { killRunning, rendered, seconds, timed, timeUntilServing, type TimedRun } from './timing'

const { values: flags } = parseArgs({
  options: {
    repeat: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '3,20,50' },
    // One size: at N=50 the baseline alone takes 3 × 16 s (quiet) to 3 × 45 s (loaded).
    'baseline-sizes': { type: 'string', default: '20' },
    'proxy-sizes': { type: 'string', default: '20,100' },
    'start-delay-ms': { type: 'string', default: '3000' },
    'rerun-size': { type: 'string', default: '20' },
    'redeploy-instances': { type: 'string', default: '5' },
    'rss-size': { type: 'string', default: '100' },
    'trace-size': { type: 'string', default: '20' },
    'engines-redeploy': { type: 'string', default: '3' },
    trace: { type: 'boolean', default: false },
    node: { type: 'string' },
    cli: { type: 'string', default: path.resolve(__dirname, '../dist/index.js') },
    'haproxy-image': { type: 'string', default: 'vic-lb-test/haproxy:2.6' },
    out: { type: 'string', default: path.resolve(__dirname, 'results.md') },
    readme: { type: 'boolean', default: false },
  },
})
const sizesOf = (list: string): number[] =>
  list
    .split(',')
    .map(Number)
    .filter((n) => n > 0)

// The issue's targets.
const TARGET = {
  localRatio: 1.15, // N=20 and N=50
  localPlusMs: 300, // N=3
  vchRatio: 1.1,
  redeployRatio: 2.5,
  rerunPlusMs: 250,
  rssMb: 80,
  podmanRatio: 1.5,
}
const REPEAT = Number(flags.repeat)
const CLI = flags.cli
const README = path.resolve(__dirname, '../README.md')
const ARGS = process.argv.slice(2).join(' ')
// The command line as the README names it.
const COMMAND = ARGS === '--readme' ? 'npm run bench' : `npx tsx bench/deploy.ts${ARGS ? ` ${ARGS}` : ''}`
const MARKERS = ['<!-- bench:deploy:start -->', '<!-- bench:deploy:end -->'] as const
const TIME = '/usr/bin/time'
const WEB_IMAGE = 'vic-lb-test/web:1'
const HAPROXY_IMAGE = flags['haproxy-image']
// What the e2e suite runs trixie's engines with.
const TRIXIE_HAPROXY_IMAGE = 'vic-lb-test/haproxy:3.0'
const WAIT_TIMEOUT_S = 300
const ID = `bench-${randomBytes(3).toString('hex')}`
// Stands in for a VCH's --container-network, where the baseline puts its load-balancer.
const ROUTABLE = `${ID}-routable`
const WORK = mkdtempSync(path.join(os.tmpdir(), `${ID}-`))
let runs = 0 // each deploy gets its own names, so that nothing one run leaves can help the next
let NODE = '' // Node 24, set in main()

const actionEnv = { ...process.env, GITHUB_OUTPUT: '/dev/null' }
const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const progress = (text: string): void => console.error(`${text}; load ${loadAverage()}`)

function deployArgs(prefix: string, n: number, lbPort: number, images = { web: WEB_IMAGE, haproxy: HAPROXY_IMAGE }): string[] {
  const args = ['deploy', '--image', images.web, '--haproxy-image', images.haproxy, '--external-network=', '--lb-port', String(lbPort)]
  return [...args, '--instance-prefix', prefix, '--lb-name', `${prefix}-lb`, '--instances', String(n), '--wait-timeout', String(WAIT_TIMEOUT_S)]
}

interface ActionRun {
  ms: number
  verifyMs: number
  // The unchanged re-run and, timed right before it, the bundle's start-up (`--help`).
  rerun?: { run: TimedRun; helpMs: number }
  trace?: string
}

// The action: the bundled CLI on Node 24 from start to exit, then an independent check through the LB.
async function runAction(n: number, opts: { dockerHost?: string; rerun?: boolean; traceAgainstFloorMs?: number; local: Engine }): Promise<ActionRun> {
  const prefix = `${ID}-act${++runs}`
  const lbName = `${prefix}-lb`
  const lbPort = await freePort()
  const args = deployArgs(prefix, n, lbPort)
  if (opts.dockerHost) args.push('--docker-host', opts.dockerHost)
  const where = `action, N=${n}${opts.dockerHost ? ' via the stand-in' : ''}`
  try {
    const observer = opts.traceAgainstFloorMs !== undefined ? observeLoadBalancer(opts.local.docker, lbName) : undefined
    const run = await timed(NODE, [CLI, ...args], { env: actionEnv })
    const healthy = await observer?.stop()
    if (flags.trace) console.error(`--- ${where}:\n${rendered(run.lines)}`)
    if (run.code !== 0) throw new Error(`${where} exited ${run.code}:\n${rendered(run.lines.slice(-20))}`)
    const verifyMs = await timeUntilServing(`http://127.0.0.1:${lbPort}/`, n, Date.now() + 15_000).catch((error: Error) => {
      throw new Error(`${where} reported ready but the LB does not serve from ${n} instances: ${error.message}`)
    })
    const result: ActionRun = { ms: run.ms, verifyMs }
    if (healthy) result.trace = breakdown(run, recordHost(prefix, lbName), healthy, lbName, opts.traceAgainstFloorMs!)
    if (opts.rerun) result.rerun = { helpMs: await startUp(), run: await unchangedRerun([...args, '--pull', 'missing'], where) }
    return result
  } finally {
    const teardown = await timed(NODE, [CLI, 'teardown', '--instance-prefix', prefix, ...(opts.dockerHost ? ['--docker-host', opts.dockerHost] : [])])
    if (teardown.code !== 0) console.error(`warning: teardown of ${prefix} exited ${teardown.code}: ${teardown.lines.at(-1)?.text}`)
    sweep()
  }
}

// The bundle's own start-up on the same runtime: `--help`, from spawn to exit.
async function startUp(): Promise<number> {
  const run = await timed(NODE, [CLI, '--help'], { env: actionEnv })
  if (run.code !== 0) throw new Error(`${CLI} --help exited ${run.code}:\n${rendered(run.lines.slice(-10))}`)
  return run.ms
}

// The same deploy again: it must find everything as wanted and change nothing.
async function unchangedRerun(args: string[], where: string): Promise<TimedRun> {
  const rerun = await timed(NODE, [CLI, ...args], { env: actionEnv })
  if (flags.trace) console.error(`--- re-run of the ${where}:\n${rendered(rerun.lines)}`)
  if (rerun.code !== 0 || !rerun.lines.some((l) => l.text.startsWith('Unchanged:')))
    throw new Error(`the unchanged re-run of the ${where} exited ${rerun.code} without saying Unchanged:\n${rendered(rerun.lines.slice(-20))}`)
  return rerun
}

// The baseline, then the wait until N distinct instances answer through its LB's address on the
// routable network: it has no readiness check of its own.
async function runBaselineToReady(n: number): Promise<number> {
  try {
    docker('network', 'create', ROUTABLE)
    const run = await runBaseline({
      name: `${ID}-base${++runs}`,
      instances: n,
      webImage: WEB_IMAGE,
      haproxyImage: HAPROXY_IMAGE,
      routableNetwork: ROUTABLE,
      workDir: WORK,
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
    return run.ms + waitMs
  } finally {
    sweep()
  }
}

// The engine's floor at the action's concurrency on that engine.
async function runFloor(engine: Engine, n: number): Promise<number> {
  try {
    const name = `${ID}-floor${++runs}`
    return await timeFloor(engine.docker, { name, instances: n, concurrency: engine.host.startsAtOnce, webImage: WEB_IMAGE, haproxyImage: HAPROXY_IMAGE })
  } finally {
    sweep()
  }
}

// Removes every container and network of this benchmark (synchronous: also runs on a signal).
function sweep(): void {
  const mine = (name: string): boolean => name.startsWith(`${ID}-`)
  const containers = (): string[] => tryDocker('ps', '-a', '--format', '{{.Names}}').split('\n').filter(mine)
  const networks = (): string[] => tryDocker('network', 'ls', '--format', '{{.Name}}').split('\n').filter(mine)
  // A few at a time: after one `docker rm -f` of 101 containers (a floor of N=100), dockerd 20.10
  // has kept an endpoint on their network that no container holds, and refused to remove it.
  const names = containers()
  for (let i = 0; i < names.length; i += 10) tryDocker('rm', '-f', ...names.slice(i, i + 10))
  for (const network of networks()) tryDocker('network', 'rm', network)
  const left = [...containers(), ...networks()]
  if (left.length) console.error(`warning: could not remove ${left.join(', ')}`)
}

function cleanUp(): void {
  killRunning()
  sweep()
  rmSync(WORK, { recursive: true, force: true })
}

// A run's step lines, without its warnings and details, and when it exited.
function steps(run: TimedRun): string {
  const shown = run.lines.filter((l) => /^(▸|✓|Started|Created|Removed|Generation|Deployed|Unchanged)/.test(l.text.trimStart()))
  return rendered([...shown, { ms: run.ms, text: '(exit)' }])
}

// The action's peak resident set size, as /usr/bin/time -v reports it for the node process.
async function peakRssMb(n: number): Promise<number> {
  const prefix = `${ID}-rss${++runs}`
  try {
    const run = await timed(TIME, ['-v', NODE, CLI, ...deployArgs(prefix, n, await freePort())], { env: actionEnv })
    if (flags.trace) console.error(`--- action under ${TIME} -v, N=${n}:\n${rendered(run.lines)}`)
    if (run.code !== 0) throw new Error(`the action at N=${n} under ${TIME} exited ${run.code}:\n${rendered(run.lines.slice(-30))}`)
    const kb = run.lines.map((l) => /Maximum resident set size \(kbytes\): (\d+)/.exec(l.text)?.[1]).find(Boolean)
    if (!kb) throw new Error(`${TIME} -v printed no "Maximum resident set size"`)
    progress(`C peak RSS, N=${n}: ${(Number(kb) / 1024).toFixed(0)} MB (deploy ${seconds(run.ms, 2)} s)`)
    return Number(kb) / 1024
  } finally {
    await timed(NODE, [CLI, 'teardown', '--instance-prefix', prefix])
    sweep()
  }
}

// Part A or B: per size, REPEAT runs of the floor and the action back to back (and the baseline).
async function measureDeploys(
  local: Engine,
  engine: Engine,
  sizes: number[],
  opts: { part: string; dockerHost?: string; baselineSizes: number[]; rerunSize: number },
): Promise<{ figures: Figure[]; reruns: { run: TimedRun; helpMs: number }[] }> {
  const figures: Figure[] = []
  const reruns: { run: TimedRun; helpMs: number }[] = []
  const where = opts.dockerHost ? 'VCH stand-in' : 'local'
  for (const n of sizes) {
    const pairs: Pair[] = []
    const baselinePairs: Pair[] = []
    for (let i = 0; i < REPEAT; i++) {
      const floor = await runFloor(engine, n)
      const action = await runAction(n, { dockerHost: opts.dockerHost, rerun: n === opts.rerunSize, local })
      pairs.push({ subject: action.ms, reference: floor })
      if (action.rerun) reruns.push(action.rerun)
      const baseline = opts.baselineSizes.includes(n) ? await runBaselineToReady(n) : undefined
      if (baseline !== undefined) baselinePairs.push({ subject: action.ms, reference: baseline })
      progress(
        `${opts.part} N=${n} run ${i + 1}: floor ${seconds(floor, 2)} s, action ${seconds(action.ms, 2)} s` +
          (action.rerun ? `, --help ${seconds(action.rerun.helpMs, 2)} s, re-run ${seconds(action.rerun.run.ms, 2)} s` : '') +
          (baseline !== undefined ? `, baseline ${seconds(baseline, 2)} s` : ''),
      )
    }
    const measure = `${where}, N=${n}: action / floor (${engine.host.startsAtOnce} at a time)`
    const names: [string, string] = ['action', 'floor']
    if (!opts.dockerHost && n < 10) figures.push(differenceFigure(`${where}, N=${n}: action − floor`, names, pairs, { plusMs: TARGET.localPlusMs }))
    figures.push(ratioFigure(measure, names, pairs, opts.dockerHost ? { ratio: TARGET.vchRatio } : n < 10 ? { none: true } : { ratio: TARGET.localRatio }))
    if (baselinePairs.length > 0)
      figures.push(ratioFigure(`${where}, N=${n}: action / docker-CLI baseline`, ['action', 'baseline'], baselinePairs, { none: true }))
  }
  return { figures, reruns }
}

async function main(): Promise<void> {
  const began = Date.now()
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      console.error(`\n${signal}: cleaning up ${ID}*`)
      cleanUp()
      process.exit(130)
    })
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`)
  for (const image of [WEB_IMAGE, 'vic-lb-test/web:2', HAPROXY_IMAGE])
    if (!tryDocker('image', 'inspect', '-f', '{{.Id}}', image)) throw new Error(`${image} is missing: run scripts/build-test-images.sh`)
  const rssSize = Number(flags['rss-size'])
  if (rssSize > 0 && !existsSync(TIME))
    throw new Error(`${TIME} is missing, which measures the peak RSS: install it (Debian: apt-get install time), or pass --rss-size 0`)
  NODE =
    flags.node ?? execFileSync('bash', [path.resolve(__dirname, '../scripts/node24.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  const nodeVersion = execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim()
  // Fills the compile cache (src/index.ts), as any run before this one on the same machine would.
  await startUp()
  const local = await connectEngine(resolveTarget('', { verify: true }, {}))
  const loadAtStart = loadAverage()
  const startedAt = new Date().toISOString().slice(0, 16).replace('T', ' ')

  const figures: Figure[] = []
  const rerunSize = Number(flags['rerun-size'])
  const partA = await measureDeploys(local, local, sizesOf(flags.sizes), {
    part: 'A',
    baselineSizes: sizesOf(flags['baseline-sizes']),
    rerunSize,
  })
  figures.push(...partA.figures)

  const proxySizes = sizesOf(flags['proxy-sizes'])
  const delay = Number(flags['start-delay-ms'])
  if (proxySizes.length > 0) {
    const proxy = await startVchProxy({ mode: 'vch', startDelayMs: delay })
    try {
      const engine = await connectEngine(resolveTarget(proxy.url, { verify: true }, {}))
      const partB = await measureDeploys(local, engine, proxySizes, { part: 'B', dockerHost: proxy.url, baselineSizes: [], rerunSize: 0 })
      figures.push(...partB.figures)
    } finally {
      await proxy.close()
    }
  }

  const timelines: string[] = []
  if (rerunSize > 0) {
    // Part A did not deploy that size: its own runs.
    for (let i = partA.reruns.length; i < REPEAT; i++) partA.reruns.push((await runAction(rerunSize, { rerun: true, local })).rerun!)
    const pairs = partA.reruns.map((r) => ({ subject: r.run.ms, reference: r.helpMs }))
    figures.push(
      differenceFigure(`local, N=${rerunSize}: unchanged re-run (pull missing) − start-up (--help)`, ['re-run', 'start-up'], pairs, {
        plusMs: TARGET.rerunPlusMs,
      }),
    )
    timelines.push(`The first unchanged re-run's steps (seconds since spawn; last line at exit):`, '', '```', steps(partA.reruns[0].run), '```', '')
  }
  const redeployN = Number(flags['redeploy-instances'])
  if (redeployN > 0) {
    const pairs: Pair[] = []
    const failed: number[] = []
    for (let i = 0; i < REPEAT; i++) {
      const floor = await runFloor(local, redeployN)
      const r = await measureRedeploy({ cli: CLI, node: NODE, instances: redeployN, concurrency: 8, haproxyImage: HAPROXY_IMAGE }, ACTION_REDEPLOY)
      pairs.push({ subject: r.seconds * 1000, reference: floor })
      failed.push(r.load.failed)
      progress(
        `C redeploy N=${redeployN} run ${i + 1}: floor ${seconds(floor, 2)} s, redeploy ${r.seconds.toFixed(2)} s, ${r.load.failed} of ${r.load.total} requests failed`,
      )
      if (i === 0) timelines.push(`The first redeploy's steps (seconds since spawn; last line at exit):`, '', '```', steps(r.runs[0]), '```', '')
    }
    const what = `local, N=${redeployN}: redeploy to a new image under load (8 keep-alive clients)`
    figures.push(ratioFigure(`${what} / floor`, ['redeploy', 'floor'], pairs, { ratio: TARGET.redeployRatio }))
    figures.push(maxFigure(`${what}: failed requests, worst run`, failed, { max: 0, unit: 'requests' }))
  }
  const enginesN = Number(flags['engines-redeploy'])
  let engines = ''
  if (enginesN > 0) {
    const descriptions = await Promise.all((['docker', 'podman'] as const).map(engineDescription))
    engines = ` Trixie's engines (part E): ${descriptions.join('; ')}, HAProxy image ${TRIXIE_HAPROXY_IMAGE}.`
    const pairs: Pair[] = []
    for (let i = 0; i < REPEAT; i++) {
      const lbPort = await freePort()
      const run: EngineRun = {
        node: NODE,
        cli: CLI,
        env: actionEnv,
        deployArgs: (prefix, image) => deployArgs(prefix, enginesN, lbPort, { web: image, haproxy: TRIXIE_HAPROXY_IMAGE }),
      }
      const docker = await timeRedeploy('docker', `${ID}-docker${++runs}`, [WEB_IMAGE, 'vic-lb-test/web:2'], run)
      const podman = await timeRedeploy('podman', `${ID}-podman${++runs}`, [WEB_IMAGE, 'vic-lb-test/web:2'], run)
      pairs.push({ subject: podman.ms, reference: docker.ms })
      progress(`E redeploy N=${enginesN} run ${i + 1}: Docker Engine ${seconds(docker.ms, 2)} s, Podman ${seconds(podman.ms, 2)} s`)
      if (i === 0)
        timelines.push(
          `The first redeploy's steps on trixie's Podman (seconds since spawn; last line at exit):`,
          '',
          '```',
          steps(podman.run),
          '```',
          '',
          'And on its Docker Engine:',
          '',
          '```',
          steps(docker.run),
          '```',
          '',
        )
    }
    figures.push(
      ratioFigure(`trixie, N=${enginesN}: redeploy to a new image, Podman 5.4 / Docker Engine 26.1`, ['Podman', 'Docker Engine'], pairs, {
        ratio: TARGET.podmanRatio,
      }),
    )
  }
  if (rssSize > 0)
    figures.push(maxFigure(`local, N=${rssSize}: peak RSS of the action (${TIME} -v), one run`, [await peakRssMb(rssSize)], { max: TARGET.rssMb, unit: 'MB' }))

  const traceSize = Number(flags['trace-size'])
  let trace = ''
  if (traceSize > 0) {
    // Its own floor, right before it.
    const floor = await runFloor(local, traceSize)
    trace = (await runAction(traceSize, { traceAgainstFloorMs: floor, local })).trace!
  }

  const minutes = ((Date.now() - began) / 60_000).toFixed(1)
  const cpu = os.cpus()[0]?.model ?? '?'
  const section = [
    `Printed by \`${COMMAND}\`, started ${startedAt} UTC, took ${minutes} min. ` +
      `Machine: ${os.availableParallelism()} CPUs (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB; ` +
      `Docker Engine ${docker('version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})')}; ` +
      `the action on Node ${nodeVersion} (npm package node@24, compile cache warm); HAProxy image ${HAPROXY_IMAGE}, instances ${WEB_IMAGE}; ` +
      `VCH stand-in ${delay / 1000} s per start.${engines} Load average (1, 5, 15 min) at the start ${loadAtStart}, at the end ${loadAverage()}. ` +
      `Each figure is the median of ${REPEAT} runs' paired values (the action against its reference timed right before it), except where it says otherwise.`,
    '',
    figuresReport(figures),
  ].join('\n')
  console.log(`\n${section}\n`)

  const results = [
    "## Deploy to ready: the action against the engine's floor",
    '',
    '**floor**: a user-defined bridge, then N instances and the load-balancer container created and started through the Engine API ' +
      "(dockerode, the action's client and queue) at the action's concurrency on that engine, nothing else (bench/floor.ts). " +
      '**action**: `node24 dist/index.js deploy ... --external-network=` from spawn to exit; it returns once HAProxy reports every instance ' +
      'healthy and the load-balancer answers; an independent check then confirms that N distinct instances answer through it. ' +
      '**baseline**: the serial docker-CLI way (bench/baseline.ts) plus the time until N distinct instances answer through its load-balancer.',
    '',
    section,
    '',
    ...timelines,
    ...(trace
      ? [
          `### Where the time goes: one traced deploy, N=${traceSize}, local engine`,
          '',
          "Its own run (an observer polls HAProxy's stats page meanwhile), against a floor measured right before it. Times from the action's output lines, " +
            "the containers' Created/StartedAt, the load-balancer's log (`docker logs -t`) and the observer, on one clock.",
          '',
          trace,
          '',
        ]
      : []),
  ].join('\n')
  writeFileSync(flags.out, results)
  if (flags.readme) writeFileSync(README, replaceBetween(readFileSync(README, 'utf8'), ...MARKERS, section))
  console.error(`took ${minutes} min; wrote ${flags.out}${flags.readme ? ` and ${README}` : ''}`)
}

main()
  .catch((error: unknown) => {
    console.error(`benchmark failed: ${(error as Error).message ?? error}`)
    process.exitCode = 1
  })
  .finally(cleanUp)
