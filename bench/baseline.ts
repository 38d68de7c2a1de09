import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'

// The baseline the action is compared with: the hand-written way to put N instances behind
// HAProxy on a VCH, one docker CLI call after the other. Pull both images; create a bridge for
// the instances; `docker run -d` each instance on it (port published, as such scripts do) and list
// it by name in an haproxy.cfg; `docker create` the load-balancer on the routable network,
// `network connect` it to the bridge, `docker cp` the configuration in and `docker start` it.
// No readiness check and no clean-up of its own: the bench times the wait and removes everything.

export interface BaselineOptions {
  name: string // prefix of everything it creates
  instances: number
  webImage: string
  haproxyImage: string
  // Stands in for a VCH's --container-network: created by the bench beforehand, like one would be.
  routableNetwork: string
  workDir: string // where haproxy.cfg is written
  env?: NodeJS.ProcessEnv // DOCKER_HOST etc. for the docker CLI
}

export interface BaselineRun {
  ms: number
  lbName: string
  // Each CLI call with its duration, for --trace.
  calls: { ms: number; args: string[]; failed?: string }[]
}

const HAPROXY_CONFIG_PATH = '/usr/local/etc/haproxy/haproxy.cfg'
const INSTANCE_PORT = 80

// The configuration such a script writes: fixed limits, no health checks, names resolved once
// when HAProxy starts.
function haproxyConfig(servers: string[]): string {
  return [
    'global',
    '    maxconn 256',
    '    log 127.0.0.1:514 local0',
    'defaults',
    '    mode http',
    '    timeout connect 5000ms',
    '    timeout client 50000ms',
    '    timeout server 5000ms',
    '    log global',
    'frontend http-in',
    `    bind *:${INSTANCE_PORT}`,
    '    default_backend servers',
    'backend servers',
    ...servers.map((name, i) => `    server server${i + 1} ${name}:${INSTANCE_PORT} maxconn 32`),
    '',
  ].join('\n')
}

export async function runBaseline(opts: BaselineOptions): Promise<BaselineRun> {
  const calls: BaselineRun['calls'] = []
  const docker = async (args: string[], { mayFail = false } = {}): Promise<void> => {
    const start = performance.now()
    try {
      await promisify(execFile)('docker', args, { env: { ...process.env, ...opts.env }, timeout: 300_000 })
      calls.push({ ms: performance.now() - start, args })
    } catch (error) {
      const failed = ((error as { stderr?: string }).stderr || (error as Error).message).trim().split('\n')[0]
      calls.push({ ms: performance.now() - start, args, failed })
      if (!mayFail) throw new Error(`baseline: docker ${args.join(' ')} failed: ${failed}`)
    }
  }
  const network = `${opts.name}-net`
  const lbName = `${opts.name}-lb`
  const servers: string[] = []
  const start = performance.now()
  // Offline every pull fails, and the script goes on with the copies on the host, as the action does.
  for (const image of [opts.webImage, opts.haproxyImage]) await docker(['pull', image], { mayFail: true })
  await docker(['network', 'create', network])
  for (let i = 1; i <= opts.instances; i++) {
    const name = `${opts.name}-web-${i}`
    await docker(['run', '-d', '-p', String(INSTANCE_PORT), '--name', name, '--net', network, opts.webImage])
    servers.push(name)
  }
  const configFile = path.join(opts.workDir, 'haproxy.cfg')
  writeFileSync(configFile, haproxyConfig(servers), { mode: 0o644 })
  // As root, as haproxy:1.7 (the image such scripts pull) ran: today's image runs as uid 99, which
  // cannot bind port 80 where only root may (a containerVM, and the VCH stand-in).
  await docker(['create', '--name', lbName, '--user', 'root', '--net', opts.routableNetwork, opts.haproxyImage])
  await docker(['network', 'connect', network, lbName])
  await docker(['cp', configFile, `${lbName}:${HAPROXY_CONFIG_PATH}`])
  await docker(['start', lbName])
  return { ms: performance.now() - start, lbName, calls }
}
