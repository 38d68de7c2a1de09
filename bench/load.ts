// Load benchmark: requests/s and p99 latency of a deployment of 3 instances (vic-lb-test/web:1,
// busybox httpd) at 10, 100 and 1000 concurrent connections, reached
//   - through the action's load-balancer, at its published address (127.0.0.1:<lb-port>, via
//     docker-proxy) and at its container address on the deployment network;
//   - through the recipe's own HAProxy configuration (seed: maxconn 256, 32 per server, timeouts
//     5000/50000/5000 ms, mode http) in an HAProxy container on the same network;
//   - directly at the 3 instances' container addresses, spread evenly.
// The load generator is autocannon (keep-alive connections, 10 s per run, 10 s request timeout).
//
//   npx tsx bench/load.ts [--duration 10] [--concurrency 10,100,1000] [--out bench/load-results.md]
//
// Needs `npm run build` (it deploys with dist/index.js) and the local test images. Traffic goes only to
// 127.0.0.1 and to the containers this script creates. Everything it creates is named
// bench-load-<random>… and removed at the end, on failure and on SIGINT/SIGTERM.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { docker, freePort, tryDocker } from '../test-support/host'

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '10,100,1000' },
    out: { type: 'string', default: path.resolve(__dirname, 'load-results.md') },
  },
})

const ROOT = path.resolve(__dirname, '..')
const CLI = path.join(ROOT, 'dist/index.js')
const WEB_IMAGE = 'vic-lb-test/web:1'
const HAPROXY_IMAGE = 'vic-lb-test/haproxy:2.6'
const INSTANCES = 3
const ID = `bench-load-${randomBytes(3).toString('hex')}`
const NETWORK = `${ID}-net`
const RECIPE_LB = `${ID}-recipe-lb`

interface Target {
  name: string
  urls: string[]
}

interface Row {
  target: string
  connections: number
  rps: number
  p99: number
  ok: number
  non2xx: number
  fiveXx: number
  errors: number
  timeouts: number
}

function addressOn(container: string): string {
  const ip = docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`, container)
  if (!ip) throw new Error(`${container} has no address on ${NETWORK}`)
  return ip
}

// The action itself, as a user runs it locally.
async function deploy(): Promise<{ lbUrl: string; instances: string[] }> {
  const lbPort = await freePort()
  const args = ['deploy', '--image', WEB_IMAGE, '--haproxy-image', HAPROXY_IMAGE, '--instances', String(INSTANCES), '--external-network=']
  args.push('--lb-port', String(lbPort), '--instance-prefix', ID, '--lb-name', `${ID}-lb`, '--wait-timeout', '120')
  execFileSync(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, GITHUB_OUTPUT: '/dev/null' },
    timeout: 300_000,
  })
  const instances = docker(
    'ps',
    '--filter',
    `label=io.github.vic-lb-action.deployment=${ID}`,
    '--filter',
    'label=io.github.vic-lb-action.role=instance',
    '--format',
    '{{.Names}}',
  )
    .split('\n')
    .filter(Boolean)
    .sort()
  if (instances.length !== INSTANCES) throw new Error(`expected ${INSTANCES} instances, found ${instances.join(', ')}`)
  return { lbUrl: `http://127.0.0.1:${lbPort}/`, instances }
}

// The seed's haproxy.cfg, as its script writes it, for the same instances.
function recipeConfig(instances: string[]): string {
  return [
    'global',
    '\tmaxconn 256',
    '\tlog 127.0.0.1:514 local0',
    'defaults',
    '\tmode http',
    '\ttimeout connect 5000ms',
    '\ttimeout client 50000ms',
    '\ttimeout server 5000ms',
    '\tlog global',
    'frontend http-in',
    '\tbind *:80',
    '\tdefault_backend servers',
    'backend servers',
    ...instances.map((name, i) => `\tserver server${i + 1} ${name}:80 maxconn 32`),
    '',
  ].join('\n')
}

function startRecipeLb(instances: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${ID}-`))
  try {
    writeFileSync(path.join(dir, 'haproxy.cfg'), recipeConfig(instances))
    docker('create', '--name', RECIPE_LB, '--net', NETWORK, HAPROXY_IMAGE)
    docker('cp', path.join(dir, 'haproxy.cfg'), `${RECIPE_LB}:/usr/local/etc/haproxy/haproxy.cfg`)
    docker('start', RECIPE_LB)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return `http://${addressOn(RECIPE_LB)}:80/`
}

async function waitForAnswer(url: string): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.ok)
      .catch(() => false)
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${url} did not answer within 30 s`)
}

async function measure(target: Target, connections: number): Promise<Row> {
  const result = await autocannon({
    // Several URLs: autocannon spreads the connections over them evenly (its README; the
    // @types/autocannon typing only knows a single string).
    url: (target.urls.length === 1 ? target.urls[0] : target.urls) as string,
    connections,
    duration: Number(flags.duration),
    timeout: 10,
  })
  const row: Row = {
    target: target.name,
    connections,
    rps: Math.round(result.requests.average),
    p99: result.latency.p99,
    ok: result['2xx'],
    non2xx: result.non2xx,
    fiveXx: result['5xx'],
    errors: result.errors,
    timeouts: result.timeouts,
  }
  console.error(`${row.target} c=${connections}: ${row.rps} req/s, p99 ${row.p99} ms, non-2xx ${row.non2xx}, errors ${row.errors}`)
  // Let connections in TIME_WAIT and HAProxy's queues drain before the next run.
  await new Promise((resolve) => setTimeout(resolve, 2000))
  return row
}

function table(rows: Row[]): string {
  const header = '| target | connections | req/s | p99 ms | 2xx | non-2xx | 5xx | errors | timeouts |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|'
  return [
    header,
    ...rows.map((r) => `| ${r.target} | ${r.connections} | ${r.rps} | ${r.p99} | ${r.ok} | ${r.non2xx} | ${r.fiveXx} | ${r.errors} | ${r.timeouts} |`),
  ].join('\n')
}

// The issue's targets: through-LB throughput at least 0.8x direct at 100 connections; no 5xx from
// our load-balancer at 1000.
function verdicts(rows: Row[]): string[] {
  const at = (target: string, c: number) => rows.find((r) => r.target === target && r.connections === c)
  const direct = at(TARGETS.direct, 100)
  const lines: string[] = []
  for (const ours of [TARGETS.oursPublished, TARGETS.oursBridge]) {
    const row = at(ours, 100)
    if (row && direct)
      lines.push(
        `- ${ours} / direct at 100 connections: ${(row.rps / direct.rps).toFixed(2)}x (target >= 0.8x): ${row.rps >= 0.8 * direct.rps ? 'met' : 'MISSED'}`,
      )
    const big = at(ours, 1000)
    if (big) lines.push(`- ${ours} at 1000 connections: ${big.fiveXx} 5xx, ${big.errors} errors (target: no 5xx): ${big.fiveXx === 0 ? 'met' : 'MISSED'}`)
  }
  return lines
}

const TARGETS = {
  oursPublished: 'action LB, published 127.0.0.1:port',
  oursBridge: 'action LB, container address',
  recipe: 'recipe HAProxy, container address',
  direct: 'direct, 3 instance addresses',
}

function machine(): string {
  const engine = tryDocker('version', '-f', '{{.Server.Version}} (API {{.Server.APIVersion}})')
  const cpu = os.cpus()[0]?.model ?? '?'
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${os.cpus().length} CPUs (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB; Docker Engine ${engine}; Node ${process.version}; autocannon in this process (one thread) on the same machine as HAProxy and the instances`
}

function sweep(): void {
  const mine = (name: string) => name.startsWith(`${ID}-`)
  const containers = tryDocker('ps', '-a', '--format', '{{.Names}}').split('\n').filter(mine)
  if (containers.length) tryDocker('rm', '-f', ...containers)
  for (const network of tryDocker('network', 'ls', '--format', '{{.Name}}').split('\n').filter(mine)) tryDocker('network', 'rm', network)
}

async function main(): Promise<void> {
  const { lbUrl, instances } = await deploy()
  const targets: Target[] = [
    { name: TARGETS.oursPublished, urls: [lbUrl] },
    { name: TARGETS.oursBridge, urls: [`http://${addressOn(`${ID}-lb`)}:8080/`] },
    { name: TARGETS.recipe, urls: [startRecipeLb(instances)] },
    { name: TARGETS.direct, urls: instances.map((name) => `http://${addressOn(name)}:80/`) },
  ]
  for (const target of targets) for (const url of target.urls) await waitForAnswer(url)
  const rows: Row[] = []
  for (const connections of flags.concurrency.split(',').map(Number)) for (const target of targets) rows.push(await measure(target, connections))
  const report = [
    "## Load: the action's load-balancer against the recipe's and against the instances directly",
    '',
    machine(),
    '',
    `${INSTANCES} instances of ${WEB_IMAGE} (busybox httpd, one process per connection, closes after each response); ${flags.duration} s per run; autocannon with keep-alive connections and a 10 s request timeout (a timeout counts as an error). \`bench/load.ts\`.`,
    '',
    table(rows),
    '',
    ...verdicts(rows),
    '',
  ].join('\n')
  console.log(report)
  writeFileSync(flags.out, report)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    sweep()
    process.exit(130)
  })

if (!existsSync(CLI)) {
  console.error(`${CLI} not found: run npm run build`)
  process.exit(1)
}
main()
  .catch((error: Error) => {
    console.error(error.message)
    process.exitCode = 1
  })
  .finally(sweep)
