// Deploy-to-ready benchmark: the action (dist/index.js) against the seed's shell recipe, on the local
// Docker Engine (part A) and through the VCH stand-in (part B). "Ready" means N distinct instances
// have answered through the load-balancer; the recipe has no readiness check of its own, so its
// time is the script's run time plus the wait until that is true.
//
//   npx tsx bench/deploy.ts [--sizes 3,20,50] [--proxy-sizes 3,10,20] [--start-delay-ms 3000]
//                           [--skip-proxy] [--repeat 1] [--trace] [--cli dist/index.js]
//
// Prints a markdown table per part and writes the same to bench/results.md. Uses the local test
// images (scripts/build-test-images.sh). Everything it creates is named bench-<random>… (the
// routable network bench_<random>_routable, because the recipe names it in a Go template) and is
// removed after each run, on failure and on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { docker, freePort, tryDocker } from '../test-support/host'
import { startVchProxy } from '../test-support/vch-proxy'

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,20,50' },
    'proxy-sizes': { type: 'string', default: '3,10,20' },
    'start-delay-ms': { type: 'string', default: '3000' },
    'skip-proxy': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    trace: { type: 'boolean', default: false },
    cli: { type: 'string', default: path.resolve(__dirname, '../dist/index.js') },
    seed: { type: 'string', default: path.resolve(__dirname, '../../shared/seed/deploying-a-service-behind-a-load-balancer.md') },
  },
})
const sizesOf = (list: string) =>
  list
    .split(',')
    .map(Number)
    .filter((n) => n > 0)
const shown = (file: string) => (path.relative(process.cwd(), file).startsWith('..') ? file : path.relative(process.cwd(), file))

const CLI = flags.cli
const WEB_IMAGE = 'vic-lb-test/web:1'
const HAPROXY_IMAGE = 'vic-lb-test/haproxy:2.6'
const RECIPE_HAPROXY = 'haproxy:1.7' // what the recipe runs; tagged from HAPROXY_IMAGE for the run
const WAIT_TIMEOUT_S = 300
const COMMAND_TIMEOUT_MS = (WAIT_TIMEOUT_S + 120) * 1000
const ID = `bench-${randomBytes(3).toString('hex')}`
const ROUTABLE = `${ID.replace(/-/g, '_')}_routable`
const WORK = mkdtempSync(path.join(os.tmpdir(), `${ID}-`)) // the recipe runs here (it writes haproxy.cfg)
let taggedRecipeHaproxy = false
let runs = 0 // each deploy gets its own names, so that nothing one run leaves can help the next
let running: ChildProcess | undefined

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const seconds = (ms: number) => (ms / 1000).toFixed(1)
const median = <T>(xs: T[], key: (x: T) => number): T => [...xs].sort((a, b) => key(a) - key(b))[Math.floor((xs.length - 1) / 2)]

// A timed command, in its own process group so that a timeout or Ctrl-C ends all it started.
// Every output line is kept with the time it arrived (ms since the start).
async function timed(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const start = performance.now()
  const lines: string[] = []
  const child = spawn(command, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  running = child
  for (const stream of [child.stdout, child.stderr]) {
    let rest = ''
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n')
      rest = parts.pop() ?? ''
      for (const line of parts) lines.push(`${seconds(performance.now() - start).padStart(6)}s  ${line}`)
    })
  }
  const timer = setTimeout(() => killGroup(child), COMMAND_TIMEOUT_MS)
  const code = await new Promise<number | string | null>((resolve) => child.on('close', (c, signal) => resolve(c ?? signal)))
  clearTimeout(timer)
  running = undefined
  return { ms: performance.now() - start, code, lines }
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL')
  } catch {
    // already gone
  }
}

// Polls `url` until `n` distinct instances (hostnames in "web v1 <hostname>") have answered.
// Returns the milliseconds that took; throws at the deadline.
async function timeUntilServing(url: string, n: number, deadline: number): Promise<number> {
  const start = performance.now()
  const seen = new Set<string>()
  let last = 'no answer yet'
  while (seen.size < n) {
    if (Date.now() > deadline) throw new Error(`${url}: only ${seen.size} of ${n} instances answered before the deadline (last: ${last})`)
    let host: string | undefined
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      const body = await response.text()
      host = response.ok ? /^web v1 (\S+)/.exec(body)?.[1] : undefined
      last = `HTTP ${response.status} ${body.trim().slice(0, 60)}`
    } catch (error) {
      last = (error as Error).message
    }
    if (host) seen.add(host)
    else await sleep(50)
  }
  return performance.now() - start
}

// The action: the bundled CLI from start to exit, then an independent check through the LB.
async function runAction(n: number, dockerHost?: string) {
  const prefix = `${ID}-act${++runs}`
  const lbPort = await freePort()
  const args = ['deploy', '--image', WEB_IMAGE, '--haproxy-image', HAPROXY_IMAGE, '--external-network=', '--lb-port', String(lbPort)]
  args.push('--instance-prefix', prefix, '--lb-name', `${prefix}-lb`, '--instances', String(n), '--wait-timeout', String(WAIT_TIMEOUT_S))
  if (dockerHost) args.push('--docker-host', dockerHost)
  try {
    const run = await timed(process.execPath, [CLI, ...args], { env: { ...process.env, GITHUB_OUTPUT: '/dev/null' } })
    if (flags.trace) console.error(`--- action, N=${n}${dockerHost ? ' via proxy' : ''}:\n${run.lines.join('\n')}`)
    if (run.code !== 0) throw new Error(`action exited ${run.code}:\n${run.lines.slice(-20).join('\n')}`)
    const verifyMs = await timeUntilServing(`http://127.0.0.1:${lbPort}/`, n, Date.now() + 15_000).catch((error: Error) => {
      throw new Error(`the action reported ready but the LB does not serve from ${n} instances: ${error.message}`)
    })
    return { ms: run.ms, verifyMs }
  } finally {
    const teardown = await timed(process.execPath, [CLI, 'teardown', '--instance-prefix', prefix])
    if (teardown.code !== 0) console.error(`warning: teardown of ${prefix} exited ${teardown.code}: ${teardown.lines.at(-1)}`)
    sweep()
  }
}

// The seed's script as it is, with only the USER-DEFINED VARIABLES values replaced.
function recipeScript(values: Record<string, string>): string {
  const script = /^```[a-z]*\n(#!\/bin\/bash\n[\s\S]*?)^```$/m.exec(readFileSync(flags.seed, 'utf8'))?.[1]
  if (!script) throw new Error(`no #!/bin/bash block in ${flags.seed}`)
  const replaced = new Set<string>()
  const text = script.replace(/^([A-Z_]+)=.*$/gm, (line, name: string) => {
    if (!(name in values)) return line
    replaced.add(name)
    return `${name}=${values[name]}`
  })
  const missing = Object.keys(values).filter((name) => !replaced.has(name))
  if (missing.length) throw new Error(`the recipe has no ${missing.join(', ')}`)
  return text
}

// The recipe: run the script, then poll through the LB's address on the routable network.
async function runRecipe(n: number, env: NodeJS.ProcessEnv = {}) {
  const lbName = `${ID}-recipe${++runs}-lb`
  try {
    docker('network', 'create', ROUTABLE)
    const values = {
      INSTANCE_IMG: WEB_IMAGE,
      NUM_INSTANCES: String(n),
      INSTANCE_CTR_PREFIX: `${ID}-recipe${runs}-web`,
      LB_CTR_NAME: lbName,
      EXTERNAL_NET: ROUTABLE,
    }
    writeFileSync(path.join(WORK, 'recipe.sh'), recipeScript(values))
    const run = await timed('bash', ['recipe.sh'], { cwd: WORK, env: { ...process.env, ...env } })
    if (flags.trace) console.error(`--- recipe, N=${n}${env.DOCKER_HOST ? ' via proxy' : ''}:\n${run.lines.join('\n')}`)
    const ip = tryDocker('inspect', '-f', `{{(index .NetworkSettings.Networks "${ROUTABLE}").IPAddress}}`, lbName)
    if (!ip) throw new Error(`the recipe's LB has no address on ${ROUTABLE}:\n${run.lines.slice(-20).join('\n')}`)
    const waitMs = await timeUntilServing(`http://${ip}:80/`, n, Date.now() + WAIT_TIMEOUT_S * 1000).catch((error: Error) => {
      throw new Error(`${error.message}\nrecipe output:\n${run.lines.slice(-20).join('\n')}\nLB logs:\n${tryDocker('logs', '--tail', '20', lbName)}`)
    })
    return { ms: run.ms + waitMs, scriptMs: run.ms, waitMs }
  } finally {
    sweep()
  }
}

// Removes every container and network of this benchmark (synchronous: also runs on a signal).
function sweep(): void {
  const mine = (name: string) => name.startsWith(`${ID}-`) || name === ROUTABLE
  const containers = () => tryDocker('ps', '-a', '--format', '{{.Names}}').split('\n').filter(mine)
  const networks = () => tryDocker('network', 'ls', '--format', '{{.Name}}').split('\n').filter(mine)
  const names = containers()
  if (names.length) tryDocker('rm', '-f', ...names)
  for (const network of networks()) tryDocker('network', 'rm', network)
  const left = [...containers(), ...networks()]
  if (left.length) console.error(`warning: could not remove ${left.join(', ')}`)
}

function cleanUp(): void {
  if (running) killGroup(running)
  sweep()
  if (taggedRecipeHaproxy) tryDocker('rmi', RECIPE_HAPROXY)
  taggedRecipeHaproxy = false
  rmSync(WORK, { recursive: true, force: true })
}

type Row = { n: number; action: number; recipe: number; scriptMs: number; waitMs: number; verifyMs: number }

async function measure(sizes: number[], dockerHost?: string, env?: NodeJS.ProcessEnv): Promise<Row[]> {
  const rows: Row[] = []
  for (const n of sizes) {
    const actions: Awaited<ReturnType<typeof runAction>>[] = []
    const recipes: Awaited<ReturnType<typeof runRecipe>>[] = []
    for (let i = 0; i < Number(flags.repeat); i++) {
      const action = await runAction(n, dockerHost)
      const recipe = await runRecipe(n, env)
      actions.push(action)
      recipes.push(recipe)
      console.error(
        `${dockerHost ? 'B' : 'A'} N=${n}: action ${seconds(action.ms)} s, recipe ${seconds(recipe.ms)} s (script ${seconds(recipe.scriptMs)} + wait ${seconds(recipe.waitMs)})`,
      )
    }
    const action = median(actions, (r) => r.ms)
    const recipe = median(recipes, (r) => r.ms)
    rows.push({ n, action: action.ms, verifyMs: action.verifyMs, recipe: recipe.ms, scriptMs: recipe.scriptMs, waitMs: recipe.waitMs })
  }
  return rows
}

function table(rows: Row[]): string {
  const lines = [
    '| N | action (s) | recipe (s) | action/recipe | recipe script (s) | recipe wait for N (s) | check after action (s) |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows)
    lines.push(
      `| ${r.n} | ${seconds(r.action)} | ${seconds(r.recipe)} | ${(r.action / r.recipe).toFixed(2)} | ${seconds(r.scriptMs)} | ${seconds(r.waitMs)} | ${seconds(r.verifyMs)} |`,
    )
  return lines.join('\n')
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
  if (!tryDocker('image', 'inspect', '-f', '{{.Id}}', RECIPE_HAPROXY)) {
    docker('tag', HAPROXY_IMAGE, RECIPE_HAPROXY)
    taggedRecipeHaproxy = true
  } else if (tryDocker('image', 'inspect', '-f', '{{.Id}}', RECIPE_HAPROXY) !== tryDocker('image', 'inspect', '-f', '{{.Id}}', HAPROXY_IMAGE)) {
    console.error(`warning: ${RECIPE_HAPROXY} exists and is not ${HAPROXY_IMAGE}; the recipe runs it as it is`)
  }

  const repeat = Number(flags.repeat) > 1 ? `, median of ${flags.repeat} runs` : ''
  const out = [
    '## Deploy-to-ready: the action against the recipe',
    '',
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${os.availableParallelism()} CPUs (nproc), ` +
      `Docker Engine ${docker('version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})')}, Node ${process.version}; ` +
      `images ${WEB_IMAGE} (busybox httpd) and ${HAPROXY_IMAGE} (also as ${RECIPE_HAPROXY} for the recipe); docker pull fails offline.`,
    '',
    `action: \`node ${shown(CLI)} deploy ... --external-network=\` from start to exit (it returns once HAProxy reports every ` +
      'instance healthy and the LB answers); then a check that N distinct instances answer through the LB. recipe: the seed ' +
      "script as it is (only its variables set), run with bash, plus the time until N distinct instances have answered through the LB's " +
      'address on the stand-in routable network (a user-defined bridge), since the script has no readiness check.',
    '',
    `### A. Local Docker Engine${repeat}`,
    '',
    table(await measure(sizesOf(flags.sizes))),
  ]
  if (!flags['skip-proxy']) {
    const delay = Number(flags['start-delay-ms'])
    const proxy = await startVchProxy({ mode: 'vch', startDelayMs: delay })
    try {
      const rows = await measure(sizesOf(flags['proxy-sizes']), proxy.url, { DOCKER_HOST: proxy.url, DOCKER_API_VERSION: '1.25' })
      out.push('', `### B. Through the VCH stand-in (API 1.25, ${delay / 1000} s per container start)${repeat}`, '', table(rows))
    } finally {
      await proxy.close()
    }
  }
  const markdown = out.join('\n') + '\n'
  console.log(`\n${markdown}`)
  writeFileSync(path.join(__dirname, 'results.md'), markdown)
}

main()
  .catch((error: unknown) => {
    console.error(`benchmark failed: ${(error as Error).message ?? error}`)
    process.exitCode = 1
  })
  .finally(cleanUp)
