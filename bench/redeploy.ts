// Redeploy benchmark: a deployment of N instances is moved from one image to another while a
// bounded load generator sends requests to its load-balancer. The action redeploys in place
// (new generation checked first, graceful reload, old generation drained); the naive way, all a
// recipe-style script can do, removes the deployment and creates it again.
//
//   npx tsx bench/redeploy.ts [--instances 5] [--concurrency 8] [--repeat 3] [--cli dist/index.js]
//
// Prints a markdown table and writes it to bench/redeploy-results.md. Uses the local test images
// (scripts/build-test-images.sh); everything it creates is named bench-rd-<random> and removed.
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { freePort } from '../test-support/host'
import { startLoad, type LoadReport } from '../test-support/load'

const { values: flags } = parseArgs({
  options: {
    instances: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
    repeat: { type: 'string', default: '3' },
    cli: { type: 'string', default: path.resolve(__dirname, '../dist/index.js') },
  },
})
const N = Number(flags.instances)
const IMAGES = ['vic-lb-test/web:1', 'vic-lb-test/web:2']

// Asynchronous, so that the load generator in this process keeps running during a redeploy.
async function cli(...args: string[]): Promise<void> {
  await promisify(execFile)(process.execPath, [flags.cli, ...args], { timeout: 300_000 })
}

interface Result {
  seconds: number
  load: LoadReport
}

// Deploys IMAGES[0], then times `redeploy` (which must end with IMAGES[1] serving) under load.
async function measure(redeploy: (deploy: (image: string) => Promise<void>, teardown: () => Promise<void>) => Promise<void>): Promise<Result> {
  const prefix = `bench-rd-${randomBytes(3).toString('hex')}`
  const port = await freePort()
  const common = [
    '--haproxy-image',
    'vic-lb-test/haproxy:2.6',
    '--external-network=',
    '--lb-port',
    String(port),
    '--instance-prefix',
    prefix,
    '--lb-name',
    `${prefix}-lb`,
    '--instances',
    String(N),
  ]
  const deploy = (image: string): Promise<void> => cli('deploy', '--image', image, ...common)
  const teardown = (): Promise<void> => cli('teardown', '--instance-prefix', prefix)
  try {
    await deploy(IMAGES[0])
    const load = startLoad(`http://127.0.0.1:${port}/`, Number(flags.concurrency), 120)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const started = Date.now()
    await redeploy(deploy, teardown)
    const seconds = (Date.now() - started) / 1000
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const report = await load.stop()
    if (![...report.bodies.keys()].some((body) => body.startsWith('web v2'))) throw new Error('the new image never served')
    return { seconds, load: report }
  } finally {
    await teardown()
  }
}

async function main(): Promise<void> {
  const rows: string[] = []
  const approaches: [string, (deploy: (image: string) => Promise<void>, teardown: () => Promise<void>) => Promise<void>][] = [
    ['vic-lb-action redeploy', (deploy) => deploy(IMAGES[1])],
    [
      'naive: remove, then create again',
      async (deploy, teardown) => {
        await teardown()
        await deploy(IMAGES[1])
      },
    ],
  ]
  for (const [name, redeploy] of approaches) {
    for (let run = 1; run <= Number(flags.repeat); run++) {
      const { seconds, load } = await measure(redeploy)
      const pct = ((100 * load.failed) / load.total).toFixed(1)
      rows.push(`| ${name} | ${run} | ${seconds.toFixed(1)} | ${load.total} | ${load.failed} (${pct} %) | ${load.failureWindowMs} |`)
      console.error(rows.at(-1), load.failures.slice(0, 3))
    }
  }
  const docker = execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' }).trim()
  const table = [
    `Redeploy of N=${N} from one image to another under ${flags.concurrency} concurrent keep-alive clients (GET /, bounded), on the local Docker Engine ${docker}, ${new Date().toISOString().slice(0, 10)}:`,
    '',
    '| approach | run | redeploy (s) | requests | failed | failures spread over (ms) |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n')
  console.log(table)
  writeFileSync(path.resolve(__dirname, 'redeploy-results.md'), table)
}

void main().catch((error) => {
  console.error(error)
  process.exit(1)
})
