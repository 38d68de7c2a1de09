import type { DockerHost } from '../docker/deploy-host'
import { describe } from '../docker/engine'
import { LABEL, deploymentLabels } from '../labels'
import { routeName } from '../names'
import { RECORD_CHECKS as check } from '../inputs'
import type { IngressRoute } from './config'

// A routed deployment's route lives on the Docker host, not in any runner's memory: the ingress's
// configuration is rendered from every record there is (under the ingress lease, so no deploy's
// change is lost), and an ingress that crashed or was replaced gets every route back from them.
//
// The record is a container that is created and never started, as the lock is, holding the route
// as a JSON file: labels cannot change after create, and on a VCH every create is a VM, while an
// archive upload works on a never-started container on every host. It carries the deployment's
// labels, so that the deployment's teardown and prune find it with the rest.

const ROUTE_DIR = '/'
const ROUTE_FILE = 'vic-lb-route.json'
// A VCH refuses a container without a command; started by hand, this fails at once.
const ROUTE_COMMAND = ['vic-lb-action-route: never started']
// Reads of the records at once: one archive request each.
const READS_AT_ONCE = 10

export interface RouteRecords {
  routes: IngressRoute[]
  // Records that could not be read or that do not hold a valid route: never rendered, named in a warning.
  unreadable: string[]
}

export async function readRoutes(host: DockerHost, ingress: string): Promise<RouteRecords> {
  const records = await host.listContainers([`${LABEL.ingress}=${ingress}`, `${LABEL.role}=route`])
  const routes: IngressRoute[] = []
  const unreadable: string[] = []
  for (let i = 0; i < records.length; i += READS_AT_ONCE) {
    const batch = records.slice(i, i + READS_AT_ONCE)
    const texts = await Promise.all(batch.map((r) => host.getFile(r.id, `${ROUTE_DIR}${ROUTE_FILE}`).catch((error) => describe(error))))
    batch.forEach((record, j) => {
      const parsed = parseRoute(texts[j], record.labels[LABEL.deployment])
      if (typeof parsed === 'string') unreadable.push(`${record.name} (${parsed})`)
      else routes.push(parsed)
    })
  }
  return { routes, unreadable }
}

// Creates the deployment's record on its first route, else rewrites it in place.
export async function writeRoute(host: DockerHost, ingress: string, route: IngressRoute, image: string): Promise<void> {
  const name = routeName(route.deployment)
  const existing = (await host.listContainers([`${LABEL.deployment}=${route.deployment}`, `${LABEL.role}=route`]))[0]
  const id =
    existing?.id ??
    (await host.createContainer({
      name,
      Image: image,
      Cmd: ROUTE_COMMAND,
      Labels: deploymentLabels(route.deployment, 'route', { [LABEL.ingress]: ingress, [LABEL.hostname]: route.hostname }),
    }))
  await host.putFile(id, ROUTE_DIR, ROUTE_FILE, `${JSON.stringify(route)}\n`)
}

// The deployment's own route, as its record holds it; undefined when it has none (or an invalid one).
export async function readRoute(host: DockerHost, deployment: string): Promise<IngressRoute | undefined> {
  const record = (await host.listContainers([`${LABEL.deployment}=${deployment}`, `${LABEL.role}=route`]))[0]
  if (!record) return undefined
  const parsed = parseRoute(await host.getFile(record.id, `${ROUTE_DIR}${ROUTE_FILE}`), deployment)
  return typeof parsed === 'string' ? undefined : parsed
}

export async function removeRoute(host: DockerHost, deployment: string): Promise<void> {
  for (const record of await host.listContainers([`${LABEL.deployment}=${deployment}`, `${LABEL.role}=route`])) await host.removeContainer(record.id)
}

// Pure: the route a record holds, or why it holds none. Anybody who can reach the Docker host can
// write a record, and its values end up in HAProxy's configuration: each is held to the rules of
// the input it came from, so that nothing can add a line to the configuration.
export function parseRoute(text: string | undefined, deployment: string | undefined): IngressRoute | string {
  if (text === undefined) return 'no route file'
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'not JSON'
  }
  const route = value as Partial<IngressRoute>
  if (typeof route !== 'object' || route === null) return 'not a route'
  if (!(typeof route.deployment === 'string' && check.deployment(route.deployment) && route.deployment === deployment))
    return 'its deployment does not match its label'
  if (!(typeof route.hostname === 'string' && check.hostname(route.hostname))) return 'invalid hostname'
  if (!(isServers(route.serving) && isServers(route.candidates))) return 'invalid servers'
  if (!(typeof route.healthCheckPath === 'string' && check.healthCheckPath(route.healthCheckPath))) return 'invalid health-check path'
  const timeouts = route.timeouts
  if (!(timeouts && [timeouts.response, timeouts.tunnel].every((t) => Number.isInteger(t) && t > 0))) return 'invalid timeouts'
  if (route.allowedSources !== undefined && !(Array.isArray(route.allowedSources) && route.allowedSources.every((c) => typeof c === 'string' && check.cidr(c))))
    return 'invalid allow-cidrs'
  return route as IngressRoute
}

function isServers(servers: unknown): boolean {
  return (
    Array.isArray(servers) &&
    servers.every(
      (s: { name?: unknown; port?: unknown }) =>
        typeof s === 'object' &&
        s !== null &&
        typeof s.name === 'string' &&
        check.serverName(s.name) &&
        Number.isInteger(s.port) &&
        (s.port as number) >= 1 &&
        (s.port as number) <= 65535,
    )
  )
}
