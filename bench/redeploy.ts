// Redeploy benchmark: a deployment of N instances is moved from one image to another while a
// bounded load generator sends requests to its load-balancer. The action redeploys in place
// (new generation checked first, graceful reload, old generation drained); the naive way, all a
// recipe-style script can do, removes the deployment and creates it again.
//
//   npx tsx bench/redeploy.ts [--instances 5] [--concurrency 8] [--repeat 3] [--cli dist/index.js]
//
// Prints a markdown table and writes it to bench/redeploy-results.md; bench/deploy.ts runs the
// action's redeploy once as part of its figures. Uses the local test images
// (scripts/build-test-images.sh); everything it creates is named bench-rd-<random> and removed.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { freePort } from '../test-support/host'
import { startLoad, type LoadReport } from '../test-support/load'
import { timed, type TimedRun } from './timing'

const IMAGES = ['vic-lb-test/web:1', 'vic-lb-test/web:2']

export interface RedeployResult {
  seconds: number
  load: LoadReport
  // The action runs made by the redeploy step, with their timed output.
  runs: TimedRun[]
}

type Step = (image: string) => Promise<void>
export type Redeploy = (deploy: Step, teardown: () => Promise<void>) => Promise<void>

export const ACTION_REDEPLOY: Redeploy = (deploy) => deploy(IMAGES[1])
const NAIVE_REDEPLOY: Redeploy = async (deploy, teardown) => {
  await teardown()
  await deploy(IMAGES[1])
}

// Deploys IMAGES[0], then times `redeploy` (which must end with IMAGES[1] serving) under load.
// `node` runs the CLI (default: this process's Node).
export async function measureRedeploy(
  opts: { cli: string; instances: number; concurrency: number; node?: string; haproxyImage?: string },
  redeploy: Redeploy,
): Promise<RedeployResult> {
  const prefix = `bench-rd-${randomBytes(3).toString('hex')}`
  const port = await freePort()
  const runs: TimedRun[] = []
  // Asynchronous, so that the load generator in this process keeps running during a redeploy.
  const cli = async (...args: string[]): Promise<TimedRun> => {
    const run = await timed(opts.node ?? process.execPath, [opts.cli, ...args], { timeoutMs: 300_000 })
    if (run.code !== 0)
      throw new Error(
        `${args[0]} exited ${run.code}:\n${run.lines
          .slice(-10)
          .map((l) => l.text)
          .join('\n')}`,
      )
    return run
  }
  const common = [
    '--haproxy-image',
    opts.haproxyImage ?? 'vic-lb-test/haproxy:2.6',
    '--external-network=',
    '--lb-port',
    String(port),
    '--instance-prefix',
    prefix,
    '--lb-name',
    `${prefix}-lb`,
    '--instances',
    String(opts.instances),
  ]
  const teardown = async (): Promise<void> => {
    await cli('teardown', '--instance-prefix', prefix)
  }
  let load: ReturnType<typeof startLoad> | undefined
  try {
    await cli('deploy', '--image', IMAGES[0], ...common)
    load = startLoad(`http://127.0.0.1:${port}/`, opts.concurrency, 120)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const started = Date.now()
    await redeploy(async (image) => {
      runs.push(await cli('deploy', '--image', image, ...common))
    }, teardown)
    const seconds = (Date.now() - started) / 1000
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const report = await load.stop()
    load = undefined
    if (![...report.bodies.keys()].some((body) => body.startsWith('web v2'))) throw new Error('the new image never served')
    return { seconds, load: report, runs }
  } finally {
    await load?.stop()
    await teardown()
  }
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: {
      instances: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '8' },
      repeat: { type: 'string', default: '3' },
      cli: { type: 'string', default: path.resolve(__dirname, '../dist/index.js') },
    },
  })
  const opts = { cli: flags.cli, instances: Number(flags.instances), concurrency: Number(flags.concurrency) }
  const rows: string[] = []
  const approaches: [string, Redeploy][] = [
    ['vic-lb-action redeploy', ACTION_REDEPLOY],
    ['naive: remove, then create again', NAIVE_REDEPLOY],
  ]
  for (const [name, redeploy] of approaches) {
    for (let run = 1; run <= Number(flags.repeat); run++) {
      const { seconds, load } = await measureRedeploy(opts, redeploy)
      const pct = ((100 * load.failed) / load.total).toFixed(1)
      rows.push(`| ${name} | ${run} | ${seconds.toFixed(1)} | ${load.total} | ${load.failed} (${pct} %) | ${load.failureWindowMs} |`)
      console.error(rows.at(-1), load.failures.slice(0, 3))
    }
  }
  const docker = execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' }).trim()
  const table = [
    `Redeploy of N=${opts.instances} from one image to another under ${opts.concurrency} concurrent keep-alive clients (GET /, bounded), on the local Docker Engine ${docker}, ${new Date().toISOString().slice(0, 10)}:`,
    '',
    '| approach | run | redeploy (s) | requests | failed | failures spread over (ms) |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n')
  console.log(table)
  writeFileSync(path.resolve(__dirname, 'redeploy-results.md'), table)
}

if (require.main === module)
  void main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
