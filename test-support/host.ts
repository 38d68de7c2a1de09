import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import * as net from 'node:net'

// Small helpers on this machine shared by the end-to-end tests and the benchmarks.

export type EngineKind = 'docker' | 'podman'

export interface EngineUnderTest {
  kind: EngineKind
  // Where the docker CLI helper and the action's docker-host input point.
  dockerHost: string
  // The HAProxy image the load-balancer is made from.
  haproxyImage: string
}

// The engine the tests run against, from the environment (see the shared contract in the README's
// Development section): VIC_LB_E2E_ENGINE, VIC_LB_E2E_DOCKER_HOST, VIC_LB_E2E_HAPROXY_IMAGE.
export function engineUnderTest(env: NodeJS.ProcessEnv = process.env): EngineUnderTest {
  const kind = env.VIC_LB_E2E_ENGINE || 'docker'
  if (kind !== 'docker' && kind !== 'podman') throw new Error(`VIC_LB_E2E_ENGINE='${kind}': expected docker or podman.`)
  const dockerHost = env.VIC_LB_E2E_DOCKER_HOST || 'unix:///var/run/docker.sock'
  if (!/^(unix|tcp):\/\/./.test(dockerHost)) throw new Error(`VIC_LB_E2E_DOCKER_HOST='${dockerHost}': expected unix:///path or tcp://host:port.`)
  return { kind, dockerHost, haproxyImage: env.VIC_LB_E2E_HAPROXY_IMAGE || 'vic-lb-test/haproxy:2.6' }
}

export const ENGINE = engineUnderTest()

// The docker CLI's environment aimed at the engine under test, and nowhere else.
export function dockerCliEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_')))
  return { ...env, DOCKER_HOST: ENGINE.dockerHost }
}

// A docker CLI call on the engine under test (set-up, inspection, clean-up), bounded in time.
export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', env: dockerCliEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 }).trim()
}

// The same, for clean-up that must go on when something is already gone.
export function tryDocker(...args: string[]): string {
  try {
    return docker(...args)
  } catch {
    return ''
  }
}

// The tests talk to the load-balancers with fetch, which refuses the ports the Fetch standard calls
// bad ("bad port"); of those, only 10080 is in the range freePort draws from (a prune e2e failed with it
// once on Podman).
const FETCH_REFUSES = new Set([10080])

// A loopback port nothing listens on right now.
// A port below the kernel's ephemeral range, free at the moment: dockerd and Podman publish a port
// given as `HostPort: ''` (the load-balancer's stats page) on a port from that range, so one that
// bind(0) handed out could go to another test's container before this test's deploy binds it.
export async function freePort(): Promise<number> {
  const [ephemeralStart] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
  const lowest = 10_000
  if (!(ephemeralStart > lowest + 1_000))
    throw new Error(`net.ipv4.ip_local_port_range starts at ${ephemeralStart}: the tests need free ports between ${lowest} and it`)
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = lowest + Math.floor(Math.random() * (ephemeralStart - lowest))
    if (!FETCH_REFUSES.has(port) && (await canListen(port))) return port
  }
  throw new Error(`no free port found between ${lowest} and ${ephemeralStart}`)
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer().once('error', () => resolve(false))
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)))
  })
}
