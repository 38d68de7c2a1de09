// A shared ingress against a load-balancer per preview (#18), for P previews of N = 2 instances:
// the containers and routable addresses each way, the time to add the P-th preview, the ingress's
// `haproxy -c` time and memory with P routes, and the requests that failed on other previews while
// one redeployed (target 0).
//
//   npx tsx bench/ingress.ts [--previews 1,10,50] [--haproxy-image vic-lb-test/haproxy:2.6] [--out bench/ingress-results.md]
//
// Needs `npm run build` and the local test images. Everything it creates is named
// bench-ingress-<random>… and removed at the end, on failure and on SIGINT/SIGTERM. Requests go to
// 127.0.0.1 only, with each preview's host name (no DNS knows them).
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { startLoad } from '../test-support/load'
import { docker, freePort } from '../test-support/host'
import { CLI, HAPROXY_IMAGE, WEB_IMAGE, machine, runBenchmark } from './load-run'

const { values: flags } = parseArgs({
  options: {
    previews: { type: 'string', default: '1,10,50' },
    'haproxy-image': { type: 'string', default: HAPROXY_IMAGE },
    out: { type: 'string', default: path.resolve(__dirname, 'ingress-results.md') },
  },
})

const INSTANCES = 2
const ID = `bench-ingress-${randomBytes(3).toString('hex')}`
// Previews under load while another redeploys.
const LOADED = 4

interface Setup {
  ingress?: string
  port: number
}

// One preview with the action's CLI; its wall time in seconds. Not execFileSync: the load on the
// other previews runs in this process and must go on meanwhile.
async function deployPreview(prefix: string, setup: Setup, image = WEB_IMAGE): Promise<number> {
  const args = [
    'deploy',
    '--image',
    image,
    '--haproxy-image',
    flags['haproxy-image'],
    '--instances',
    String(INSTANCES),
    '--external-network=',
    '--pull',
    'never',
  ]
  args.push('--instance-prefix', prefix, '--wait-timeout', '120')
  if (setup.ingress) args.push('--ingress', setup.ingress, '--hostname', hostnameOf(prefix), '--lb-port', String(setup.port))
  else args.push('--lb-name', `${prefix}-lb`, '--lb-port', String(setup.port))
  const started = process.hrtime.bigint()
  await promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, GITHUB_OUTPUT: '/dev/null' }, timeout: 300_000 })
  return Number(process.hrtime.bigint() - started) / 1e9
}

const hostnameOf = (prefix: string): string => `${prefix}.bench.test`

function containersOf(prefix: string, running: boolean): string[] {
  return docker('ps', ...(running ? [] : ['-a']), '--format', '{{.Names}}')
    .split('\n')
    .filter((name) => name.startsWith(prefix))
}

interface Figures {
  previews: number
  mode: string
  running: number
  neverStarted: number
  addresses: number
  // Seconds, or why the last preview could not be added.
  addLastS: number | string
  checkS?: number
  memory?: string
  failed?: string
}

async function measureWith(previews: number, ingress: boolean): Promise<Figures> {
  const prefix = `${ID}-${ingress ? 'i' : 'o'}${previews}`
  const names = Array.from({ length: previews }, (_, k) => `${prefix}-p${k + 1}`)
  // One port for the ingress; one each for previews with a load-balancer of their own.
  const ports = await Promise.all(names.map(() => freePort()))
  const setupOf = (k: number): Setup => (ingress ? { ingress: `${prefix}-ing`, port: ports[0]! } : { port: ports[k]! })
  let addLastS: number | string = 0
  let deployed = 0
  try {
    for (const [k, name] of names.entries()) {
      addLastS = await deployPreview(name, setupOf(k))
      deployed++
    }
  } catch (error) {
    // A host's limit is a figure too (dockerd's default address pools: about 30 networks).
    addLastS = `preview ${deployed + 1} failed: ${String((error as { stderr?: string }).stderr ?? error)
      .trim()
      .split('\n')
      .pop()}`
  }
  const figures: Figures = {
    previews,
    mode: ingress ? 'shared ingress' : 'load-balancer each',
    running: containersOf(prefix, true).length,
    neverStarted: containersOf(prefix, false).length - containersOf(prefix, true).length,
    // Each load-balancer published on the host here; on a VCH each takes an address of the routable network.
    addresses: ingress ? 1 : deployed,
    addLastS,
  }
  if (ingress && deployed === previews) {
    const ing = `${prefix}-ing`
    const started = process.hrtime.bigint()
    docker('exec', ing, 'haproxy', '-c', '-f', '/usr/local/etc/haproxy/haproxy.cfg')
    figures.checkS = Number(process.hrtime.bigint() - started) / 1e9
    figures.memory = docker('stats', '--no-stream', '--format', '{{.MemUsage}}', ing).split(' / ')[0]
    // The first preview redeploys while up to LOADED others are under load.
    const others = names.slice(1, 1 + LOADED)
    const loads = others.map((name) => startLoad(`http://${hostnameOf(name)}:${ports[0]}/`, 2, 120, undefined, {}, true))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await deployPreview(names[0]!, setupOf(0), 'vic-lb-test/web:2')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const reports = await Promise.all(loads.map((load) => load.stop()))
    for (const failure of reports.flatMap((r) => r.failures)) console.error(`failed on another preview: ${failure}`)
    const failed = reports.reduce((sum, r) => sum + r.failed, 0)
    const total = reports.reduce((sum, r) => sum + r.total, 0)
    figures.failed = others.length > 0 ? `${failed} of ${total}` : 'no other preview'
  }
  for (const name of names.slice(0, deployed))
    execFileSync(process.execPath, [CLI, 'teardown', '--instance-prefix', name], { stdio: 'ignore', timeout: 120_000 })
  console.error(`${previews} previews, ${figures.mode}: ${JSON.stringify(figures)}`)
  return figures
}

async function main(): Promise<void> {
  const rows: Figures[] = []
  for (const previews of flags.previews.split(',').map(Number)) rows.push(await measureWith(previews, false), await measureWith(previews, true))
  const cell = (value: unknown): string => (value === undefined ? '' : String(value))
  const report = [
    `## Previews on a shared ingress against a load-balancer each (N = ${INSTANCES})`,
    '',
    machine(),
    '',
    '`bench/ingress.ts`: each preview deployed with the CLI one after another, published on this machine (on a VCH every container is a VM and every load-balancer takes an address of the routable network). Never-started containers are the route records (and none for a load-balancer each); on a VCH they are powered-off VMs.',
    '',
    '| previews | mode | running containers | never-started containers | routable addresses | add the last preview (s) | haproxy -c of the ingress (s) | ingress memory | failed requests on others while one redeploys |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.previews} | ${r.mode} | ${r.running} | ${r.neverStarted} | ${r.addresses} | ${typeof r.addLastS === 'number' ? r.addLastS.toFixed(2) : r.addLastS} | ${r.checkS === undefined ? '' : r.checkS.toFixed(2)} | ${cell(r.memory)} | ${cell(r.failed)} |`,
    ),
    '',
    `- Expected containers: a load-balancer each P×(N+1), a shared ingress P×N+1 running (target). Failed requests on other previews: target 0.`,
    '',
  ].join('\n')
  console.log(report)
  writeFileSync(flags.out, report)
}

runBenchmark(ID, main)
