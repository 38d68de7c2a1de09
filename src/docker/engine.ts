import * as https from 'node:https'
import Docker from 'dockerode'
import type { DockerTarget } from './target'

// The newest Engine API version this action has been written against. Docker 29 refuses clients
// below 1.44; a VCH speaks 1.25 at most. Every call the action makes exists since 1.25.
export const NEWEST_KNOWN_API = '1.47'
export const OLDEST_SUPPORTED_API = '1.25'

const PROBE_TIMEOUT_MS = 20_000

export interface Engine {
  docker: Docker
  target: DockerTarget
  apiVersion: string
  // A vSphere Integrated Containers host: each container is a VM (see docs on VIC behaviour).
  isVch: boolean
  description: string
}

export async function connectEngine(target: DockerTarget): Promise<Engine> {
  // docker-modem does not negotiate: unversioned paths first, to learn what the server speaks.
  const probe = newClient(target)
  const version = await withTimeout(probe.version(), PROBE_TIMEOUT_MS, `did not answer GET /version within ${PROBE_TIMEOUT_MS / 1000} s`)
    .catch((error: unknown) => {
      throw new Error(`Cannot reach the Docker host ${target.address}: ${describe(error)}. Check docker-host, the TLS inputs and that the host's API port is reachable from this runner.`)
    })
  const serverApi = String(version.ApiVersion ?? '')
  if (!/^\d+\.\d+$/.test(serverApi) || compareApi(serverApi, OLDEST_SUPPORTED_API) < 0)
    throw new Error(`The Docker host ${target.address} speaks Engine API '${serverApi}'; this action needs ${OLDEST_SUPPORTED_API} or newer.`)
  const apiVersion = compareApi(serverApi, NEWEST_KNOWN_API) < 0 ? serverApi : NEWEST_KNOWN_API
  const docker = newClient(target, apiVersion)
  const info = await docker.info()
  const isVch = String(info.ID ?? '').startsWith('vSphere Integrated Containers') || String(info.Driver ?? '').startsWith('vSphere Integrated Containers')
  const kind = isVch ? `vSphere Integrated Containers host (${info.Driver})` : `Docker Engine ${version.Version ?? '?'}`
  return { docker, target, apiVersion, isVch, description: `${kind}, Engine API ${serverApi}, using ${apiVersion}` }
}

function newClient(target: DockerTarget, apiVersion?: string): Docker {
  const versioned = apiVersion ? { version: `v${apiVersion}` } : {}
  const c = target.connection
  if ('socketPath' in c) return new Docker({ socketPath: c.socketPath, host: undefined, ...versioned })
  // An explicit agent carries the client certificate and honours tls-verify=false, which
  // docker-modem's own TLS options cannot express. Keep-alive spares a TLS handshake per call.
  const agent =
    c.protocol === 'https'
      ? new https.Agent({ ca: c.ca, cert: c.cert, key: c.key, rejectUnauthorized: c.rejectUnauthorized, keepAlive: true })
      : undefined
  // docker-modem accepts an agent; @types/dockerode does not list it.
  const options = { host: c.host, port: c.port, protocol: c.protocol, ca: c.ca, cert: c.cert, key: c.key, agent, ...versioned }
  return new Docker(options as Docker.DockerOptions)
}

export function compareApi(a: string, b: string): number {
  const [aMajor, aMinor] = a.split('.').map(Number)
  const [bMajor, bMinor] = b.split('.').map(Number)
  return aMajor - bMajor || aMinor - bMinor
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const json = (error as { json?: { message?: string } }).json
    return json?.message ?? error.message
  }
  return String(error)
}
