import * as http from 'node:http'
import * as https from 'node:https'
import { inspect } from 'node:util'
import Docker from 'dockerode'
import { ProbeTimeout, UnexpectedAnswer, explainUnreachable, probeFailure, type Failure } from './connection-errors'
import { reportConnectionLoss } from './connection-loss'
import { compareApi, detectHost, type HostProfile, type InfoAnswer, type VersionAnswer } from './host-profile'
import { checkTlsMaterial, type DockerTarget, type TcpConnection } from './target'

// The newest Engine API version this action has been written against. Docker 29 refuses clients
// below 1.44; a VCH speaks 1.25 at most. Every call the action makes exists since 1.25.
export const NEWEST_KNOWN_API = '1.47'
export const OLDEST_SUPPORTED_API = '1.25'

// The first contact is bounded: a host that drops packets or a port that accepts and never
// answers must not hold the job until the runner's own timeout. A refused or lost connection is
// tried again (a daemon restarting), a refused certificate is not.
const PROBE_TIMING = { connectMs: 5_000, answerMs: 10_000, retryDelaysMs: [1_000, 3_000] }

export interface Engine {
  docker: Docker
  target: DockerTarget
  apiVersion: string
  // What this kind of host does differently (Docker Engine, Podman, VCH).
  host: HostProfile
  description: string
}

export async function connectEngine(target: DockerTarget): Promise<Engine> {
  if (!('socketPath' in target.connection)) checkTlsMaterial(target.connection)
  // Asked alongside /version (Podman answers each in 0.1-0.4 s); asked again below if this attempt
  // failed for another reason than a stuck daemon, e.g. a host that was restarting.
  const earlyInfo = infoOf(clientOf(target), target).catch((error: unknown) => error as Error)
  // docker-modem does not negotiate: unversioned paths first, to learn what the server speaks.
  const version = await probeWithRetries(target)
  const serverApi = String(version.ApiVersion ?? '')
  if (!/^\d+\.\d+$/.test(serverApi) || compareApi(serverApi, OLDEST_SUPPORTED_API) < 0)
    throw new Error(`The Docker host ${target.address} speaks Engine API '${serverApi}'; this action needs ${OLDEST_SUPPORTED_API} or newer.`)
  const apiVersion = compareApi(serverApi, NEWEST_KNOWN_API) < 0 ? serverApi : NEWEST_KNOWN_API
  const docker = newClient(target, apiVersion)
  const info = await earlyInfo
  if (info instanceof StuckDaemon) throw info
  const host = detectHost(version, info instanceof Error ? await infoOf(docker, target) : info)
  return { docker, target, apiVersion, host, description: `${host.name}, Engine API ${serverApi}, using ${apiVersion}` }
}

// GET /info gathers state from every container: a dockerd that has wedged on one (moby#44300, seen
// on 20.10 after many concurrent removals) answers /version at once and /info never.
async function infoOf(docker: Docker, target: DockerTarget): Promise<InfoAnswer> {
  try {
    // dockerode's types leave out the options its info() takes.
    const withOptions = docker as unknown as { info(options: { abortSignal: AbortSignal }): Promise<InfoAnswer> }
    return await withOptions.info({ abortSignal: AbortSignal.timeout(PROBE_TIMING.answerMs) })
  } catch (error) {
    if ((error as Error).name !== 'AbortError' && (error as Error).name !== 'TimeoutError') throw error
    throw new StuckDaemon(
      `The Docker host ${target.address} answered GET /version but not GET /info within ${PROBE_TIMING.answerMs / 1000} s: its daemon is stuck (docker info hangs there too). Restart the Docker daemon, then run the action again.`,
    )
  }
}

class StuckDaemon extends Error {}

async function probeWithRetries(target: DockerTarget): Promise<VersionAnswer> {
  const { retryDelaysMs } = PROBE_TIMING
  for (let attempt = 1; ; attempt++) {
    let failure: Failure
    try {
      return await getVersion(target)
    } catch (error) {
      failure = probeFailure(error, target)
    }
    if (!failure.transient || attempt > retryDelaysMs.length) throw new Error(explainUnreachable(target, failure, attempt))
    await new Promise((resolve) => setTimeout(resolve, retryDelaysMs[attempt - 1]))
  }
}

// GET /version by hand rather than through docker-modem, to time the TCP connect and the answer
// separately and to keep the TLS error codes that tell a wrong CA from a refused client certificate.
function getVersion(target: DockerTarget): Promise<VersionAnswer> {
  return new Promise((resolve, reject) => {
    const request = versionRequest(target)
    const fail = (error: Error): void => {
      clearTimeout(timer)
      request.destroy(error)
    }
    let timer = setTimeout(() => fail(new ProbeTimeout('connect', PROBE_TIMING.connectMs)), PROBE_TIMING.connectMs)
    request.once('socket', (socket) =>
      socket.once('connect', () => {
        clearTimeout(timer)
        timer = setTimeout(() => fail(new ProbeTimeout('answer', PROBE_TIMING.answerMs)), PROBE_TIMING.answerMs)
      }),
    )
    request.once('response', (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk.slice(0, 4096 - body.length)))
      response.once('end', () => {
        clearTimeout(timer)
        try {
          resolve(parseVersion(response.statusCode ?? 0, body))
        } catch (error) {
          reject(error)
        }
      })
    })
    request.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    request.end()
  })
}

function versionRequest(target: DockerTarget): http.ClientRequest {
  const c = target.connection
  if ('socketPath' in c) return http.request({ socketPath: c.socketPath, path: '/version', agent: false })
  if (c.protocol === 'http') return http.request({ host: c.host, port: c.port, path: '/version', agent: false })
  return https.request({ host: c.host, port: c.port, path: '/version', agent: false, ...tlsOptions(c) })
}

function parseVersion(status: number, body: string): VersionAnswer {
  if (status !== 200) throw new UnexpectedAnswer(status, body)
  try {
    return JSON.parse(body) as VersionAnswer
  } catch {
    throw new UnexpectedAnswer(status, body)
  }
}

function tlsOptions(c: TcpConnection): https.AgentOptions {
  return { ca: c.ca, cert: c.cert, key: c.key, rejectUnauthorized: c.rejectUnauthorized }
}

function newClient(target: DockerTarget, apiVersion: string): Docker {
  const docker = clientOf(target, apiVersion)
  reportConnectionLoss(docker, target)
  return docker
}

// Without apiVersion: unversioned paths, which every host serves at its own newest version.
function clientOf(target: DockerTarget, apiVersion?: string): Docker {
  const version = apiVersion && `v${apiVersion}`
  const c = target.connection
  return 'socketPath' in c
    ? new Docker({ socketPath: c.socketPath, host: undefined, version, agent: socketAgent() } as Docker.DockerOptions)
    : new Docker(tcpOptions(c, version) as Docker.DockerOptions)
}

// A connection per call on the local socket (Node's default agent keeps them alive): a daemon that
// is shutting down closes its listener first and then stops the containers, answering on the
// connections it already has. A kept connection would show this run's containers exited, as if
// the image had failed; a new one is refused, and says what happened.
function socketAgent(): http.Agent {
  return shownBriefly(new http.Agent({ keepAlive: false }))
}

// An explicit agent carries the client certificate and honours tls-verify=false, which
// docker-modem's own TLS options cannot express. Keep-alive spares a TLS handshake per call.
// The key material goes to the agent only: docker-modem would otherwise put it into every request's
// options (and its DEBUG output), and would take DOCKER_CERT_PATH's files on its own.
function tcpOptions(c: TcpConnection, version: string | undefined): Record<string, unknown> {
  const agent = c.protocol === 'https' ? shownBriefly(new https.Agent({ ...tlsOptions(c), keepAlive: true })) : undefined
  return { host: c.host, port: c.port, protocol: c.protocol, agent, ca: undefined, cert: undefined, key: undefined, version }
}

// docker-modem formats the options of every request, the agent among them, with util.inspect
// (showHidden, unlimited depth) whether DEBUG is on or not. Through the agent's sockets that is
// megabytes of garbage per call, which made the heap, and the peak RSS, grow with every instance.
function shownBriefly<T extends http.Agent>(agent: T): T {
  Object.defineProperty(agent, inspect.custom, { value: () => `[${agent.constructor.name}]` })
  return agent
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const json = (error as { json?: { message?: string } }).json
    return json?.message ?? error.message
  }
  return String(error)
}
