import * as http from 'node:http'
import * as https from 'node:https'
import * as net from 'node:net'
import * as tls from 'node:tls'
import { CONFIG_ID_HEADER, type Protocol } from './haproxy/config'
import { sleep } from './cancel'
import { describeServer, parseStatsCsv, unhealthyServers, type ServerStatus } from './haproxy/stats'
import { pinnedTo } from './haproxy/stats-certificate'
import { log } from './log'
import { NOT_ROUTED_HEADER } from './ingress/config'

// Ready means: the load-balancer answers on the service address AND HAProxy's health checks have
// passed for every expected instance. "Container running" is not enough, and a VCH has no
// HEALTHCHECK, so HAProxy's checks are the one source of truth on both kinds of host.

export interface Endpoints {
  statsUrl: string
  // The Authorization header the stats page requires (stats-auth.ts).
  statsAuthorization: string
  // The one certificate the stats page may serve (stats-certificate.ts), PEM.
  statsCertificate: string
  serviceHost: string
  servicePort: number
  protocol: Protocol
  // With HTTPS: the SHA-256 fingerprint of the certificate the load-balancer must serve.
  certificateFingerprint?: string
  // On a shared ingress: the host name the deployment is served under, sent as the Host header (and
  // as SNI over TLS), without which the probe would get the ingress's answer for no route.
  serviceName?: string
  // With basic-auth: the Authorization header of one of its users. HAProxy answers a request
  // without it with 401 itself, before choosing an instance, so the probe would prove only that
  // HAProxy listens; with it, it goes through to an instance like any user's request.
  serviceAuthorization?: string
}

export interface Expectation {
  backend: string
  servers: string[]
  // Servers that passed their checks just before this configuration was loaded (unhealthyServers).
  admitted?: string[]
  // Also require that the stats page is served under this configuration (configIdOf): proves that a
  // reload has taken effect.
  configId?: string
  // Also require that the service port answers through the load-balancer. Not for candidates,
  // which get no traffic: the generation still serving may itself be broken (a killed first
  // deploy's), and a redeploy is how it gets fixed.
  throughService: boolean
  deadline: number
  // Called between polls; throws to stop waiting early, e.g. when an instance has exited.
  check?: () => Promise<void>
  // How often a long wait reports how far it is (PROGRESS_EVERY_MS unless a test needs it sooner).
  progressEveryMs?: number
  // Stops waiting at once when the run is cancelled (cancel.ts).
  signal?: AbortSignal
}

export class NotReadyError extends Error {
  constructor(
    message: string,
    readonly statuses: ServerStatus[],
    readonly unhealthy: string[],
  ) {
    super(message)
  }
}

const POLL_MS = 100
const REQUEST_TIMEOUT_MS = 2_000
// A short wait says nothing; a long one says what it waits for this often.
const PROGRESS_EVERY_MS = 3_000
// Instances named in one progress line; the rest are counted.
const PROGRESS_NAMES = 5

export async function waitUntilServing(endpoints: Endpoints, expectation: Expectation): Promise<ServerStatus[]> {
  let statuses: ServerStatus[] = []
  let problem = 'no answer yet'
  let lastProgress = Date.now()
  const { signal } = expectation
  for (;;) {
    // Set when instances are what the wait is for: then progress names them.
    let waitingFor: string | undefined
    try {
      const stats = await fetchStats(endpoints, signal)
      statuses = parseStatsCsv(stats.csv)
      const unhealthy = unhealthyServers(statuses, expectation.backend, expectation.servers, expectation.admitted)
      if (expectation.configId && stats.configId !== expectation.configId) problem = 'the load-balancer has not loaded its new configuration'
      else if (unhealthy.length > 0) {
        problem = `${unhealthy.length} of ${expectation.servers.length} instances not healthy yet`
        waitingFor = instancesProgress(statuses, expectation, unhealthy)
      } else if (!expectation.throughService || (await serviceAnswers(endpoints, signal))) return statuses
      else problem = `the service port ${endpoints.servicePort} does not answer`
    } catch (error) {
      problem = `the load-balancer's stats page does not answer (${(error as Error).message})`
    }
    signal?.throwIfAborted()
    await expectation.check?.()
    if (Date.now() >= expectation.deadline)
      throw new NotReadyError(
        `Timed out waiting for the deployment to become ready: ${problem}.`,
        statuses,
        unhealthyServers(statuses, expectation.backend, expectation.servers),
      )
    if (Date.now() - lastProgress >= (expectation.progressEveryMs ?? PROGRESS_EVERY_MS)) {
      log.progress(waitingFor ?? `Waiting: ${problem}`)
      lastProgress = Date.now()
    }
    await sleep(POLL_MS, signal)
  }
}

function instancesProgress(statuses: ServerStatus[], { backend, servers }: Expectation, unhealthy: string[]): string {
  const named = unhealthy.slice(0, PROGRESS_NAMES).map((name) => `${name}: ${describeServer(statuses, backend, name)}`)
  const more = unhealthy.length > PROGRESS_NAMES ? ` and ${unhealthy.length - PROGRESS_NAMES} more` : ''
  return `${servers.length - unhealthy.length} of ${servers.length} instances healthy; waiting for ${named.join(', ')}${more}`
}

// The stats CSV, and the id of the configuration of the worker that answered.
async function fetchStats(endpoints: Endpoints, signal: AbortSignal | undefined): Promise<{ csv: string; configId: unknown }> {
  const response = await get(`${endpoints.statsUrl};csv`, signal, {
    headers: { authorization: endpoints.statsAuthorization },
    tls: pinnedTo(endpoints.statsCertificate),
  })
  const status = response.statusCode ?? 0
  if (status < 200 || status > 299) {
    response.destroy()
    throw new Error(`HTTP ${status}`)
  }
  let csv = ''
  for await (const chunk of response.setEncoding('utf8')) csv += chunk
  return { csv, configId: response.headers[CONFIG_ID_HEADER] }
}

// HAProxy itself answers 502/503/504 when it has nothing healthy to send a request to.
async function serviceAnswers(endpoints: Endpoints, signal: AbortSignal | undefined): Promise<boolean> {
  if (endpoints.protocol === 'tcp') return tcpConnects(endpoints.serviceHost, endpoints.servicePort)
  const fingerprint = endpoints.certificateFingerprint
  try {
    const { serviceName, serviceAuthorization } = endpoints
    const headers = { ...(serviceName ? { host: serviceName } : {}), ...(serviceAuthorization ? { authorization: serviceAuthorization } : {}) }
    const tlsOptions = { rejectUnauthorized: false, ...(serviceName ? { servername: serviceName } : {}) }
    const response = await get(`${fingerprint ? 'https' : 'http'}://${hostForUrl(endpoints.serviceHost)}:${endpoints.servicePort}/`, signal, {
      headers,
      tls: tlsOptions,
    })
    const certified = !fingerprint || (response.socket as tls.TLSSocket).getPeerCertificate().fingerprint256 === fingerprint
    response.destroy()
    // The ingress answering for no route is not this deployment serving (not yet routed by the worker that answered).
    return certified && ![502, 503, 504].includes(response.statusCode ?? 0) && response.headers[NOT_ROUTED_HEADER] === undefined
  } catch {
    return false
  }
}

// One GET on a connection of its own (none outlives a reload of the load-balancer), resolved at the
// response's head; a redirect is an answer, not followed. Over HTTPS the stats page is pinned to its
// certificate (tls); the service's certificate is the user's, for the service's public name, and
// may be self-signed, so it is accepted here and the caller compares its fingerprint instead.
function get(
  url: string,
  signal: AbortSignal | undefined,
  { headers = {}, tls = { rejectUnauthorized: false } }: { headers?: http.OutgoingHttpHeaders; tls?: https.RequestOptions } = {},
): Promise<http.IncomingMessage> {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  const options = { headers, agent: false, signal: signal ? AbortSignal.any([timeout, signal]) : timeout }
  return new Promise((resolve, reject) => {
    const request = url.startsWith('https:') ? https.get(url, { ...options, ...tls }, resolve) : http.get(url, options, resolve)
    request.on('error', (error) => reject(timeout.aborted ? new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`) : error))
  })
}

// Until HAProxy in a load-balancer that was just started again completes a TLS handshake on its stats
// port, at most timeoutMs: it binds all its listeners at once, so then it serves the service port
// too. A connection alone proves nothing where ports are published: the engine's proxy accepts it
// before HAProxy listens, and closes it. Whose certificate it is does not matter here.
export async function waitUntilListening(host: string, statsPort: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!(await handshakes(host, statsPort))) {
    if (Date.now() >= deadline) return false
    await sleep(POLL_MS)
  }
  return true
}

function handshakes(host: string, port: number): Promise<boolean> {
  return connects(tls.connect({ host, port, rejectUnauthorized: false, timeout: REQUEST_TIMEOUT_MS }), 'secureConnect')
}

function tcpConnects(host: string, port: number): Promise<boolean> {
  return connects(net.connect({ host, port, timeout: REQUEST_TIMEOUT_MS }), 'connect')
}

// Whether the socket gets to `made` before an error or its timeout; it is closed either way.
function connects(socket: net.Socket, made: 'connect' | 'secureConnect'): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.once(made, () => finish(true))
    socket.once('timeout', () => finish(false))
    socket.once('error', () => finish(false))
  })
}

export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}
