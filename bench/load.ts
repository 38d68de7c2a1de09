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
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { docker } from '../test-support/host'
import { HAPROXY_IMAGE, WEB_IMAGE, addressOn, deploy, machine, measure, networkOf, runBenchmark, table, waitForAnswer, type Row, type Target } from './load-run'

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '10,100,1000' },
    out: { type: 'string', default: path.resolve(__dirname, 'load-results.md') },
  },
})

const INSTANCES = 3
const ID = `bench-load-${randomBytes(3).toString('hex')}`
const NETWORK = networkOf(ID)
const RECIPE_LB = `${ID}-recipe-lb`

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
  return `http://${addressOn(RECIPE_LB, NETWORK)}:80/`
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

async function main(): Promise<void> {
  const { lbUrl, instances } = await deploy(ID, INSTANCES)
  const targets: Target[] = [
    { name: TARGETS.oursPublished, urls: [lbUrl] },
    { name: TARGETS.oursBridge, urls: [`http://${addressOn(`${ID}-lb`, NETWORK)}:8080/`] },
    { name: TARGETS.recipe, urls: [startRecipeLb(instances)] },
    { name: TARGETS.direct, urls: instances.map((name) => `http://${addressOn(name, NETWORK)}:80/`) },
  ]
  for (const target of targets) for (const url of target.urls) await waitForAnswer(url)
  const rows: Row[] = []
  for (const connections of flags.concurrency.split(',').map(Number))
    for (const target of targets) rows.push(await measure(target, connections, Number(flags.duration)))
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

runBenchmark(ID, main)
