// Load-balance HTTP requests or plain TCP connections (the protocol input).
export const PROTOCOLS = ['http', 'tcp'] as const
export type Protocol = (typeof PROTOCOLS)[number]
import { createHash } from 'node:crypto'
import { basicAuthLines, type BasicAuthCheck } from './basic-auth'
import { statsAuthLine, type StatsAuth } from './stats-auth'
import type { StatsCertificate } from './stats-certificate'

// Where the readiness check reads HAProxy's own view of every server (see readiness.ts).
export const STATS_PORT = 8404
export const STATS_PATH = '/stats'
export const CONFIG_DIR = '/usr/local/etc/haproxy'
export const CONFIG_FILE = 'haproxy.cfg'
// lb-certificate: chain and key in one file, readable by HAProxy's user only (putCertificate in reload.ts).
export const CERTIFICATE_FILE = 'service.pem'
export const CERTIFICATE_PATH = `${CONFIG_DIR}/${CERTIFICATE_FILE}`
// The stats page's own certificate and key (stats-certificate.ts), put in the same way.
export const STATS_CERTIFICATE_FILE = 'stats.pem'
export const STATS_CERTIFICATE_PATH = `${CONFIG_DIR}/${STATS_CERTIFICATE_FILE}`

// The configuration a kept load-balancer had before a deploy changed it, for the post step of a
// deploy that was killed (post.ts).
export const PREVIOUS_CONFIG_FILE = 'haproxy.cfg.before-deploy'
export const PREVIOUS_CERTIFICATE_FILE = 'service.pem.before-deploy'

// How long HAProxy keeps a client's idle keep-alive connection (HTTP). A client that sends on it
// just as HAProxy closes it gets a reset, so this is longer than clients that ignore the
// Keep-Alive header (Node's bare http.Agent, Python's urllib3) usually wait between requests.
export const HTTP_KEEP_ALIVE_S = 10
// What the frontend announces in a `Keep-Alive: timeout=N` header: shorter than HTTP_KEEP_ALIVE_S,
// so that clients that read it (Node's default agent, fetch) let go of an idle connection after a
// second and a reload's old worker, which keeps idle connections until they close, exits soon.
export const ANNOUNCED_KEEP_ALIVE_S = 2

// The frontend sends traffic to SERVING_BACKEND only. Instances that are about to join are first
// put in CANDIDATE_BACKEND, where they are health-checked without receiving traffic.
export const SERVING_BACKEND = 'instances'
export const CANDIDATE_BACKEND = 'candidates'
// A candidate is admitted after one passed check: its backend gets no traffic, and once it serves,
// rise 2 (default-server in the defaults) applies to it as to every serving instance.
export const CANDIDATE_CHECK = '    default-server rise 1'
// Companion services with a port: checked with a TCP connect, as the instances would reach them,
// and never sent traffic. The deploy waits there until they accept connections, since the runner
// cannot reach the deployment's network; the stats page shows them ever after.
export const SERVICES_BACKEND = 'services'

export interface Server {
  name: string // the instance's container name, which Docker's DNS resolves on the instance network
  port: number
}

// In seconds. A request's answer may take up to response; an upgraded connection (websocket) may
// stay idle up to tunnel; after a reload the old worker finishes its connections for up to drain.
export interface LbTimeouts {
  response: number
  tunnel: number
  drain: number
}

// What every load-balancer has of its own, whatever it routes to: where it listens, its
// certificate, its stats page, and how it starts. A deployment's own (LbConfig) and the shared
// ingress (src/ingress/config.ts) both render it with the functions below.
export interface LbSettings {
  listenPort: number
  // lb-port: where clients reach listenPort (on the Docker host when it is published).
  servicePort: number
  // Plain HTTP that redirects to HTTPS on servicePort (http-redirect-port, needs certificateFile):
  // the port inside the load-balancer.
  redirectListenPort?: number
  // HTTPS on the service port with this certificate file (chain and key), CERTIFICATE_PATH in the load-balancer.
  certificateFile?: string
  statsAuth: StatsAuth
  statsCertificate: StatsCertificate
  // Where the load-balancer has it: STATS_CERTIFICATE_PATH.
  statsCertificateFile: string
  // HAProxy's master starts as root to bind a port below 1024 on a host that lets no other user
  // do so; its workers, which handle the traffic, then run as the image's `haproxy` user.
  startsAsRoot?: boolean
}

// What a backend's servers may take: an answer up to response, an upgraded connection idle up to tunnel.
export type BackendTimeouts = Pick<LbTimeouts, 'response' | 'tunnel'>

export interface LbConfig extends LbSettings {
  protocol: Protocol
  timeouts: LbTimeouts
  healthCheckPath: string
  serving: Server[]
  candidates: Server[]
  // Companion services by name (their network alias), each with its port; none when absent.
  services?: Server[]
  // basic-auth (HTTP only): a request needs credentials the check knows, else it gets 401.
  basicAuth?: BasicAuthCheck
  // allow-cidrs: only clients whose address (as the load-balancer sees it) is in one of these
  // networks get through; the others get 403 (HTTP) or a closed connection (TCP).
  allowedSources?: string[]
}

// The stats page names the configuration of the worker that serves it in this header, so that
// readiness can tell when a reload has taken effect, even one that moves no instance (a changed
// allow-cidrs or basic-auth): until then the previous worker may still take new connections.
export const CONFIG_ID_HEADER = 'x-vic-lb-config'
const CONFIG_ID_PLACEHOLDER = '@config-id@'

// How the servers' names are looked up: when HAProxy starts or reloads, and when `haproxy -c`
// checks the text before a reload (see renderConfigToCheck).
export type InitAddr = 'last,libc,none' | 'none'

// A configuration in the forms HAProxy gets, each naming itself by the same id (CONFIG_ID_HEADER).
export interface ConfigForms<Config> {
  // What the load-balancer loads.
  text(config: Config): string
  // What `haproxy -c` checks before a reload.
  toCheck(config: Config): string
  // Pure: the id text(config) carries, a digest of the rest of its text.
  idOf(config: Config): string
}

export function configForms<Config>(render: (config: Config, initAddr: InitAddr) => string): ConfigForms<Config> {
  const idOf = (config: Config): string => digestOf(render(config, 'last,libc,none'))
  return {
    text: (config) => {
      const text = render(config, 'last,libc,none')
      return text.replace(CONFIG_ID_PLACEHOLDER, digestOf(text))
    },
    toCheck: (config) => render(config, 'none').replace(CONFIG_ID_PLACEHOLDER, idOf(config)),
    idOf,
  }
}

function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

const ownConfig = configForms(render)

// Every value that reaches this text has been checked against a strict pattern (inputs.ts), so
// none can carry a space, newline, '#' or '$' that would change the configuration.
export const renderHaproxyConfig: (config: LbConfig) => string = ownConfig.text

// Pure: the id renderHaproxyConfig(config) carries, a digest of the rest of its text.
export const configIdOf: (config: LbConfig) => string = ownConfig.idOf

// What `haproxy -c` checks before a reload: the same configuration, except that it looks no server
// name up. At start an unresolvable name is no error anyway (init-addr ends in none), so the
// lookups can only slow the check down, and on Podman they stalled it for 25-40 s right after
// containers started (aardvark-dns). The reload itself still looks the names up, so that the new
// worker sends traffic at once.
export const renderConfigToCheck: (config: LbConfig) => string = ownConfig.toCheck

function render(config: LbConfig, initAddr: InitAddr): string {
  const http = config.protocol === 'http'
  return configText([
    ...leadingSections(config, config.timeouts.drain, {
      protocol: config.protocol,
      // The client side waits for the answer as long as the server side may take to give it.
      clientTimeout: config.timeouts.response,
      serverTimeouts: config.timeouts,
      initAddr,
    }),
    [
      'frontend service',
      serviceBind(config),
      ...sourceCheck(config),
      ...(config.basicAuth ? basicAuthLines(config.basicAuth) : []),
      ...(http ? forwardingRules(config) : []),
      `    default_backend ${SERVING_BACKEND}`,
    ],
    ...(config.redirectListenPort ? [redirectToHttps(config.redirectListenPort, config.servicePort, sourceCheck(config))] : []),
    backend(SERVING_BACKEND, config.serving, config),
    ...(config.candidates.length > 0 ? [backend(CANDIDATE_BACKEND, config.candidates, config, [CANDIDATE_CHECK])] : []),
    ...(config.services?.length ? [[`backend ${SERVICES_BACKEND}`, ...config.services.map(serverLine)]] : []),
  ])
}

// Sections (each a list of lines) apart by a blank line, as HAProxy reads them.
export function configText(sections: string[][]): string {
  return sections.map((lines) => lines.join('\n')).join('\n\n') + '\n'
}

// What every proxy inherits unless it sets its own.
export interface ProxyDefaults {
  protocol: Protocol
  // How long the client side may stay silent, waiting for an answer included.
  clientTimeout: number
  // Absent when every backend sets its own (the ingress, per route).
  serverTimeouts?: BackendTimeouts
  initAddr: InitAddr
}

// How long a client may take to send a request's headers (HTTP).
export const HTTP_REQUEST_TIMEOUT_S = 10

// The sections every load-balancer starts with: the process, name resolution, what every proxy
// inherits, and the stats page.
export function leadingSections(settings: LbSettings, drain: number, defaults: ProxyDefaults): string[][] {
  return [globalSection(settings, drain), resolversSection(), defaultsSection(defaults), statsFrontend(settings)]
}

function globalSection({ startsAsRoot }: LbSettings, drain: number): string[] {
  return [
    'global',
    '    log stdout format raw local0',
    // No global maxconn: HAProxy sizes it from the container's file-descriptor limit, where the
    // recipe's 256 (and 32 per server) queued and refused requests under load.
    // Old workers keep finishing their connections after a reload, but not forever.
    `    hard-stop-after ${drain}s`,
    ...(startsAsRoot ? ['    user haproxy', '    group haproxy'] : []),
  ]
}

function resolversSection(): string[] {
  return [
    // Instances come and go while the load-balancer runs, so their names are resolved at run time
    // through the container's own resolver (Docker's embedded DNS, or the VCH's).
    'resolvers docker',
    '    parse-resolv-conf',
    '    resolve_retries 3',
    // Names of instances that start alongside the load-balancer resolve within this.
    '    timeout resolve 500ms',
    '    timeout retry 1s',
    '    hold valid 10s',
  ]
}

function defaultsSection({ protocol, clientTimeout, serverTimeouts, initAddr }: ProxyDefaults): string[] {
  const http = protocol === 'http'
  return [
    'defaults',
    `    mode ${protocol}`,
    '    log global',
    http ? '    option httplog' : '    option tcplog',
    '    option dontlognull',
    // Successful requests are not logged, only errors, retries and 5xx: every log line goes
    // through the container's stdout and the Docker daemon's log driver, which cost about 30% of
    // the throughput at 100 connections on a 2-core host (bench/load.ts).
    '    option dontlog-normal',
    // A killed instance's address stops answering at all (no refusal), so a request sent there
    // waits out this timeout before it is retried elsewhere: short, as a connect on the instances'
    // own network takes well under a millisecond when the instance is alive.
    '    timeout connect 1s',
    `    timeout client ${clientTimeout}s`,
    ...(serverTimeouts ? serverTimeoutLines(serverTimeouts) : []),
    '    timeout queue 30s',
    ...(http
      ? [
          `    timeout http-request ${HTTP_REQUEST_TIMEOUT_S}s`,
          // On a reload the old worker does not close idle keep-alive connections under a client
          // that may be sending on them; it answers their next request with `Connection: close`.
          '    option idle-close-on-response',
          // ...and those still idle after this long are closed as usual, so that the old worker
          // exits and the drain (drainOldWorkers in reload.ts) ends.
          `    timeout http-keep-alive ${HTTP_KEEP_ALIVE_S}s`,
        ]
      : []),
    // A request that fails to connect is retried on another instance at once (every retry
    // redispatches; the default waits 1 s and retries the same instance until the last one).
    '    retries 3',
    '    option redispatch 1',
    ...(http
      ? [
          // ...and so is one whose instance died before answering (its connection closed or was
          // reset): the kernel of a killed instance resets the requests in flight. Only GET and
          // HEAD, which are safe to send twice (disable-l7-retry in the backends).
          '    retry-on conn-failure empty-response',
        ]
      : []),
    // Check often so that readiness is seen quickly and a dead instance leaves rotation fast; a
    // server that cannot be resolved yet starts disabled instead of stopping HAProxy. A check of a
    // killed instance fails only at its timeout (inter): with fall 2 it is out within about three
    // check intervals, where fall 3 took 4-5 s at 1 s intervals (e2e load test). Docker's DNS
    // answers for an instance as soon as its container joins the network, before its process
    // listens, so its first check can fail and mark it DOWN before it runs. A DOWN server is
    // checked every downinter, and after its first pass every fastinter (HAProxy's srv_getinter),
    // so a new instance is admitted 0.1-0.2 s after it answers (rise 2: two passes 0.1 s apart).
    // Checking a server that serves nothing costs no traffic anything, and rise 2 stays: an
    // instance that failed while serving needs two passes in a row to get traffic again, so one
    // lucky answer of a flapping instance does not put it back. fastinter also paces the checks of
    // an UP server that just failed one: a dead instance is out 0.1 s after its first failed check.
    // A check connects within min(timeout connect, inter) and then waits this long for the answer:
    // without it the whole check had inter (0.5 s), so an application whose health path takes
    // longer (a database query, a cold start) never became healthy. A hung instance is still out
    // after two such checks.
    '    timeout check 2s',
    `    default-server check inter 500ms fastinter 100ms downinter 100ms rise 2 fall 2 resolvers docker resolve-prefer ipv4 init-addr ${initAddr}`,
  ]
}

// In the defaults, or in each backend that has its own (the ingress: per route).
export function serverTimeoutLines({ response, tunnel }: BackendTimeouts): string[] {
  return [
    `    timeout server ${response}s`,
    // Once a connection is upgraded (websocket) it may stay idle this long; it replaces the client
    // and server timeouts.
    `    timeout tunnel ${tunnel}s`,
  ]
}

function statsFrontend({ statsCertificateFile, statsAuth }: LbSettings): string[] {
  return [
    'frontend stats',
    '    mode http',
    `    bind :${STATS_PORT} ssl crt ${statsCertificateFile}`,
    '    stats enable',
    `    stats uri ${STATS_PATH}`,
    // Without credentials HAProxy answers 401: the page lists every instance (stats-auth.ts). TLS
    // keeps the credentials and the page off the network (stats-certificate.ts).
    `    ${statsAuthLine(statsAuth)}`,
    // Readiness polls would otherwise fill the log.
    '    http-request set-log-level silent',
    // http-response rules skip the stats page's own answers; http-after-response rules do not.
    `    http-after-response set-header ${CONFIG_ID_HEADER} ${CONFIG_ID_PLACEHOLDER}`,
  ]
}

// The service frontend's bind line. HTTP/2 or HTTP/1.1 to clients over TLS, named explicitly so
// that 2.6 (which offers only HTTP/1.1 by default) behaves like 2.8+; the instances always get HTTP/1.1.
export function serviceBind({ listenPort, certificateFile }: LbSettings): string {
  return `    bind :${listenPort}${certificateFile ? ` ssl crt ${certificateFile} alpn h2,http/1.1` : ''}`
}

// The service frontend's rules for HTTP: what the instances are told about the client, and what
// the client is told about its connection.
export function forwardingRules(settings: LbSettings): string[] {
  return [
    ...forwardedHeaders(settings),
    // Clients that read this header (Node's default agent and fetch close an idle connection a
    // second before the time announced) never send into HAProxy's close, and let go of an old
    // worker soon after a reload. It replaces whatever an instance announced for its own
    // connection to HAProxy (Node's own server says 5 s), and HTTP/2 leaves it out of its answers.
    `    http-response set-header Keep-Alive timeout=${ANNOUNCED_KEEP_ALIVE_S}`,
  ]
}

// What the client reached, as the instances need it to build their own URLs and to know whom they
// serve. Set, never appended to: a value a client sent could otherwise pass for the load-balancer's.
function forwardedHeaders({ certificateFile, servicePort }: LbSettings): string[] {
  return [
    `    http-request set-header X-Forwarded-Proto ${certificateFile ? 'https' : 'http'}`,
    '    http-request set-header X-Forwarded-Host %[req.hdr(host)]',
    `    http-request set-header X-Forwarded-Port ${servicePort}`,
    '    http-request set-header X-Forwarded-For %[src]',
  ]
}

// The same host, on HTTPS's port: the Host header's own port (if any) is replaced, an IPv6
// literal's colons kept. A permanent redirect, so that browsers go to HTTPS at once next time.
// Credentials are asked for only once on HTTPS, so that they never cross the network in clear.
// `admission`: the rules a request passes first (allow-cidrs).
export function redirectToHttps(listenPort: number, httpsPort: number, admission: string[]): string[] {
  return [
    'frontend http-redirect',
    `    bind :${listenPort}`,
    ...admission,
    `    http-request replace-header Host ^(.*?)(:[0-9]+)?$ \\1${httpsPort === 443 ? '' : `:${httpsPort}`}`,
    '    http-request redirect scheme https code 301',
  ]
}

// How a backend checks its servers: an HTTP GET of healthCheckPath, or a TCP connect without one.
export type ServerCheck = Pick<LbConfig, 'protocol' | 'healthCheckPath'>

// `settings`: what this backend sets for itself before the checks (the ingress's per-route
// timeouts and allow-cidrs).
export function backend(name: string, servers: Server[], check: ServerCheck, settings: string[] = []): string[] {
  return [
    `backend ${name}`,
    '    balance roundrobin',
    ...settings,
    ...(check.protocol === 'http' ? ['    http-request disable-l7-retry unless METH_GET'] : []),
    ...(check.healthCheckPath
      ? ['    option httpchk', `    http-check send meth GET uri ${check.healthCheckPath}`, '    http-check expect status 200-399']
      : []),
    ...servers.map(serverLine),
  ]
}

function serverLine(server: Server): string {
  return `    server ${server.name} ${server.name}:${server.port}`
}

// allow-cidrs, before anything else of a request is looked at. HTTP (and HTTPS, after the
// handshake) answers 403, so that a person sees why; TCP can only close the connection, at once.
export function sourceCheck({ allowedSources, protocol }: Pick<LbConfig, 'allowedSources' | 'protocol'>): string[] {
  if (!allowedSources) return []
  return [
    ...allowedSources.map((cidr) => `    acl allowed_source src ${cidr}`),
    protocol === 'http' ? '    http-request deny deny_status 403 unless allowed_source' : '    tcp-request connection reject unless allowed_source',
  ]
}
