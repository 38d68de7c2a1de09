import {
  backend,
  CANDIDATE_CHECK,
  configForms,
  configText,
  forwardingRules,
  HTTP_REQUEST_TIMEOUT_S,
  leadingSections,
  redirectToHttps,
  serverTimeoutLines,
  serviceBind,
  sourceCheck,
  type BackendTimeouts,
  type InitAddr,
  type LbConfig,
  type LbSettings,
  type LbTimeouts,
  type ServerCheck,
} from '../haproxy/config'

// The shared ingress's HAProxy configuration (DESIGN.md): one service frontend that sends each
// request to the preview its host name names, and each preview's backends as a deployment's own
// load-balancer has them. Everything but that frontend is rendered by src/haproxy/config.ts.

// One preview's route, as its route record holds it. Every value goes into the text verbatim (no
// escaping: docs/haproxy.md, "Injection"), so each must already be what inputs.ts accepts, and a
// record read back from the Docker host must be checked against the same rules before it gets here:
// - deployment: an instance-prefix, one route per deployment (see servingBackendOf);
// - hostname: a lower-case DNS name (labels of [a-z0-9-] apart by dots), routed by this route alone;
// - the rest: as in LbConfig.
export interface IngressRoute extends Pick<LbConfig, 'serving' | 'candidates' | 'healthCheckPath' | 'allowedSources'> {
  deployment: string
  hostname: string
  timeouts: BackendTimeouts
}

export interface IngressConfig extends LbSettings {
  // hard-stop-after: how long an old worker may finish its connections after a reload; other
  // previews' long connections pin it too.
  drainTimeout: LbTimeouts['drain']
  routes: IngressRoute[]
}

// A proxy name takes only [A-Za-z0-9_.:-]. An instance-prefix is [A-Za-z0-9][A-Za-z0-9_-]*, at
// most 40 characters (inputs.ts), so these names are always valid; their colon keeps them apart
// from the frontends' names (service, stats, http-redirect), which HAProxy 3.3+ requires.
export function servingBackendOf(deployment: string): string {
  return `r:${deployment}`
}

// The route's new instances, health-checked without traffic until the deploy moves them to serving.
export function candidateBackendOf(deployment: string): string {
  return `c:${deployment}`
}

const ingressConfig = configForms(render)

// What the ingress loads.
export const renderIngressConfig: (config: IngressConfig) => string = ingressConfig.text

// What `haproxy -c` checks inside the ingress before a reload: no server name looked up, as renderConfigToCheck.
export const renderIngressConfigToCheck: (config: IngressConfig) => string = ingressConfig.toCheck

// Pure: the id renderIngressConfig(config) carries on every answer of its stats page (CONFIG_ID_HEADER).
export const ingressConfigIdOf: (config: IngressConfig) => string = ingressConfig.idOf

// The request's host name: the Host header (HAProxy turns HTTP/2's :authority into one), without
// its port, lower-cased as DNS compares names.
const HOST_VAR = 'txn.host'
// What a request for a name no route has gets: it names no preview and no host name. The header
// tells readiness (readiness.ts) this answer from an application's own 404.
const NOT_ROUTED_BODY = 'No preview here.'
export const NOT_ROUTED_HEADER = 'x-vic-lb-not-routed'

function render(config: IngressConfig, initAddr: InitAddr): string {
  // By code unit, not locale: the same text whatever order the records were read in, on any runner.
  const routes = [...config.routes].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0))
  return configText([
    ...leadingSections(config, config.drainTimeout, {
      // HTTP only: routing reads the host name.
      protocol: 'http',
      // The client side belongs to the one service frontend, whichever route a request takes, so
      // it waits as long as the slowest route's answer may take; each route's backend still cuts
      // its own answers at its own response timeout (timeout server). With no route every request
      // is answered at once (404), and the time to send one is enough.
      clientTimeout: routes.length > 0 ? Math.max(...routes.map((route) => route.timeouts.response)) : HTTP_REQUEST_TIMEOUT_S,
      // No serverTimeouts: each route's backend has its own.
      initAddr,
    }),
    serviceFrontend(config, routes),
    // allow-cidrs is a route's, and the redirect looks at no route: a client of another source is
    // redirected, then refused over HTTPS (403).
    ...(config.redirectListenPort ? [redirectToHttps(config.redirectListenPort, config.servicePort, [])] : []),
    ...routes.flatMap(routeBackends),
  ])
}

function serviceFrontend(config: IngressConfig, routes: IngressRoute[]): string[] {
  const notRouted = `    http-request return status 404 content-type text/plain string "${NOT_ROUTED_BODY}" hdr ${NOT_ROUTED_HEADER} 1`
  // Every request gets that answer: HAProxy warns of any rule after it, which could never run.
  if (routes.length === 0) return ['frontend service', serviceBind(config), notRouted]
  return [
    'frontend service',
    serviceBind(config),
    `    http-request set-var(${HOST_VAR}) req.hdr(host),lower,field(1,:)`,
    // One line per route (HAProxy takes at most 64 words on a line): lines of one ACL name add up.
    ...routes.map((route) => `    acl routed var(${HOST_VAR}) -m str ${route.hostname}`),
    // An http-request rule: HAProxy evaluates use_backend only after all of them.
    `${notRouted} unless routed`,
    ...forwardingRules(config),
    ...routes.map((route) => `    use_backend ${servingBackendOf(route.deployment)} if { var(${HOST_VAR}) -m str ${route.hostname} }`),
  ]
}

// The route's own timeouts, health check and (serving only) allow-cidrs. allow-cidrs is checked in
// the backend, which gets only the requests routed to it: ACL names belong to their proxy, so
// each backend's allowed_source is its own, rendered as the own load-balancer's frontend has it;
// in the shared frontend each route would need an ACL name of its own combined with its host
// match. `acl` and `http-request deny` in a backend are accepted alike by 2.6 and 3.0.
function routeBackends(route: IngressRoute): string[][] {
  const check: ServerCheck = { protocol: 'http', healthCheckPath: route.healthCheckPath }
  const timeouts = serverTimeoutLines(route.timeouts)
  return [
    backend(servingBackendOf(route.deployment), route.serving, check, [
      ...timeouts,
      ...sourceCheck({ allowedSources: route.allowedSources, protocol: 'http' }),
    ]),
    ...(route.candidates.length > 0 ? [backend(candidateBackendOf(route.deployment), route.candidates, check, [...timeouts, CANDIDATE_CHECK])] : []),
  ]
}
