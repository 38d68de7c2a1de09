// What the load benchmarks share (bench/load.ts, bench/protection.ts): a deployment of the local
// test images made with the action's CLI, autocannon runs against it, and the table they print.
// Traffic goes only to 127.0.0.1 and to the containers a benchmark creates, all named after its ID.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import { docker, freePort, tryDocker } from '../test-support/host'

export const CLI = path.resolve(__dirname, '..', 'dist/index.js')
export const WEB_IMAGE = 'vic-lb-test/web:1'
export const HAPROXY_IMAGE = 'vic-lb-test/haproxy:2.6'

export interface Target {
  name: string
  urls: string[]
  // Sent with every request (credentials).
  headers?: Record<string, string>
}

export interface Row {
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

// The deployment's network: the instances' and the load-balancer's addresses on it.
export function networkOf(id: string): string {
  return `${id}-net`
}

export function addressOn(container: string, network: string): string {
  const ip = docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container)
  if (!ip) throw new Error(`${container} has no address on ${network}`)
  return ip
}

// The action itself, as a user runs it locally: deployment `id` published on lb-port (a free port
// unless given: a redeploy keeps it), with `extra` flags.
export async function deploy(
  id: string,
  instances: number,
  { extra = [], lbPort }: { extra?: string[]; lbPort?: number } = {},
): Promise<{ lbUrl: string; lbPort: number; instances: string[] }> {
  const port = lbPort ?? (await freePort())
  const args = ['deploy', '--image', WEB_IMAGE, '--haproxy-image', HAPROXY_IMAGE, '--instances', String(instances), '--external-network=']
  args.push('--lb-port', String(port), '--instance-prefix', id, '--lb-name', `${id}-lb`, '--wait-timeout', '120', ...extra)
  execFileSync(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, GITHUB_OUTPUT: '/dev/null' },
    timeout: 300_000,
  })
  const names = docker(
    'ps',
    '--filter',
    `label=io.github.vic-lb-action.deployment=${id}`,
    '--filter',
    'label=io.github.vic-lb-action.role=instance',
    '--format',
    '{{.Names}}',
  )
    .split('\n')
    .filter(Boolean)
    .sort()
  if (names.length !== instances) throw new Error(`expected ${instances} instances, found ${names.join(', ')}`)
  return { lbUrl: `http://127.0.0.1:${port}/`, lbPort: port, instances: names }
}

export async function waitForAnswer(url: string, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const ok = await fetch(url, { headers, signal: AbortSignal.timeout(2000) })
      .then((r) => r.ok)
      .catch(() => false)
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${url} did not answer within 30 s`)
}

export async function measure(target: Target, connections: number, durationS: number): Promise<Row> {
  const result = await autocannon({
    // Several URLs: autocannon spreads the connections over them evenly (its README; the
    // @types/autocannon typing only knows a single string).
    url: (target.urls.length === 1 ? target.urls[0] : target.urls) as string,
    headers: target.headers,
    connections,
    duration: durationS,
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

export function table(rows: Row[]): string {
  const header = '| target | connections | req/s | p99 ms | 2xx | non-2xx | 5xx | errors | timeouts |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|'
  return [
    header,
    ...rows.map((r) => `| ${r.target} | ${r.connections} | ${r.rps} | ${r.p99} | ${r.ok} | ${r.non2xx} | ${r.fiveXx} | ${r.errors} | ${r.timeouts} |`),
  ].join('\n')
}

export function machine(): string {
  const engine = tryDocker('version', '-f', '{{.Server.Version}} (API {{.Server.APIVersion}})')
  const cpu = os.cpus()[0]?.model ?? '?'
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${os.cpus().length} CPUs (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB; Docker Engine ${engine}; Node ${process.version}; autocannon in this process (one thread) on the same machine as HAProxy and the instances`
}

// Runs a benchmark's main once dist/ is built, then removes every container and network named
// after its ID: at the end, on failure and on SIGINT/SIGTERM.
export function runBenchmark(id: string, main: () => Promise<void>): void {
  const sweep = (): void => {
    const mine = (name: string) => name.startsWith(`${id}-`)
    const containers = tryDocker('ps', '-a', '--format', '{{.Names}}').split('\n').filter(mine)
    if (containers.length) tryDocker('rm', '-f', ...containers)
    for (const network of tryDocker('network', 'ls', '--format', '{{.Name}}').split('\n').filter(mine)) tryDocker('network', 'rm', network)
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
}
