import { log } from '../log'
import { describe } from '../docker/engine'
import type { DockerHost } from '../docker/deploy-host'
import type { HostProfile } from '../docker/host-profile'
import { CONFIG_DIR, CONFIG_FILE } from '../haproxy/config'
import type { DeploySettings } from '../inputs'
import { LABEL, ingressLabels } from '../labels'
import { networkName } from '../names'
import { createHaproxy, lbSettingsOf, servedPorts, startHaproxy } from '../steps/haproxy-container'
import { checkInside, loadConfig } from '../haproxy/reload'
import { ingressConfigIdOf, renderIngressConfig, renderIngressConfigToCheck, type IngressConfig, type IngressRoute } from './config'
import { readRoutes, type RouteRecords } from './record'

// The shared ingress itself (DESIGN.md): made by the first deploy that names it, from that deploy's
// settings, and never changed by a later one; started again, or made again with every route the
// records on the host hold, when it stopped or went. Runs under the ingress's lock.

// What the ingress was made with, as its label keeps it: a later deploy must name the same.
export interface IngressSpec {
  haproxyImage: string
  externalNetwork: string
  lbPort: number
  httpRedirectPort?: number
  // The SHA-256 fingerprint of lb-certificate's leaf, never the certificate itself.
  certificate?: string
  // drain-timeout of the deploy that made it (hard-stop-after): not compared, since each deploy
  // renders the whole configuration and it must not change with whoever deploys last.
  drainTimeout: number
}

export function ingressSpecOf(settings: DeploySettings): IngressSpec {
  return {
    haproxyImage: settings.haproxyImage,
    externalNetwork: settings.externalNetwork,
    lbPort: settings.lbPort,
    ...(settings.httpRedirectPort ? { httpRedirectPort: settings.httpRedirectPort } : {}),
    ...(settings.certificate ? { certificate: settings.certificate.fingerprint256 } : {}),
    drainTimeout: settings.timeouts.drain,
  }
}

// Pure: what this deploy names differently from the ingress, as a sentence; undefined when nothing.
// The image is compared by reference, not ID: a newer pull of the same tag is the same choice.
export function specDifference(ingress: string, made: IngressSpec, wanted: IngressSpec): string | undefined {
  const inputs: [keyof IngressSpec, string][] = [
    ['haproxyImage', 'haproxy-image'],
    ['externalNetwork', 'external-network'],
    ['lbPort', 'lb-port'],
    ['httpRedirectPort', 'http-redirect-port'],
    ['certificate', 'lb-certificate'],
  ]
  const show = (key: keyof IngressSpec, value: unknown): string =>
    value === undefined || value === '' ? '(none)' : key === 'certificate' ? `the certificate of SHA-256 fingerprint ${String(value)}` : `'${String(value)}'`
  const differ = inputs.filter(([key]) => made[key] !== wanted[key])
  if (differ.length === 0) return undefined
  return `Ingress '${ingress}' serves the previews of several deployments and was made with ${differ.map(([key, input]) => `${input} ${show(key, made[key])}`).join(', ')}; this deploy gives ${differ.map(([key, input]) => `${input} ${show(key, wanted[key])}`).join(', ')}. A deploy never changes the ingress under the other previews: give the ingress's values (or leave ingress empty for a load-balancer of this deployment's own).`
}

export interface Ingress {
  id: string
  name: string
  // What its configuration directory holds: the stats page's credentials and certificate.
  files: Map<string, string>
  // The settings its configuration is rendered with, routes aside.
  settings: Omit<IngressConfig, 'routes'>
}

// The ingress as the host has it, undefined when there is none; a container of its name that is
// not it is refused.
export async function findIngress(
  host: DockerHost,
  profile: HostProfile,
  name: string,
): Promise<(Ingress & { spec: IngressSpec; running: boolean }) | undefined> {
  const labels = await host.labelsOf('container', name)
  if (!labels) return undefined
  if (labels[LABEL.role] !== 'ingress' || labels[LABEL.ingress] !== name)
    throw new Error(
      `A container named ${name} exists on the Docker host and is not ingress '${name}'${labels[LABEL.deployment] ? ` (it belongs to deployment '${labels[LABEL.deployment]}')` : ''}. Choose another ingress, or remove that container.`,
    )
  const spec = parseSpec(labels[LABEL.ingressSpec])
  if (!spec) throw new Error(`Ingress '${name}' has no readable ${LABEL.ingressSpec} label. Remove it (its routes are kept on the host) and deploy again.`)
  const { Id, State } = await host.inspect(name)
  const files = await host.getFiles(Id, CONFIG_DIR)
  return { id: Id, name, files, settings: ingressSettingsOf(spec, profile, files, name), spec, running: State.Running }
}

// The ingress serving, made or started when needed. `created`: the IDs of what this call made.
export async function ensureIngress(host: DockerHost, profile: HostProfile, settings: DeploySettings, created: (id: string) => void): Promise<Ingress> {
  const name = settings.ingress!.name
  const wanted = ingressSpecOf(settings)
  const found = await findIngress(host, profile, name)
  const difference = found && specDifference(name, found.spec, wanted)
  if (difference) throw new Error(difference)
  if (found) {
    // Started again with every route there is, not with what it held when it stopped.
    if (!found.running) {
      await host.putFile(found.id, CONFIG_DIR, CONFIG_FILE, await configOfEveryRoute(host, found))
      await startHaproxy(host, found.id, { kind: 'ingress', servesAs: name, served: servedPorts(found.settings, found.spec) })
    }
    return found
  }

  const net = networkName(name)
  if (!(await host.labelsOf('network', net))) {
    const network = await host.createNetwork(net, ingressLabels(name, 'network')).catch((error) => {
      throw new Error(`Could not create the network ${net} of ingress '${name}': ${describe(error)}`)
    })
    created(network)
  }
  const made: Ingress = { id: '', name, files: new Map(), settings: ingressSettingsOf(wanted, profile, new Map(), name) }
  const spec = {
    kind: 'ingress',
    servesAs: name,
    name,
    image: settings.haproxyImage,
    labels: ingressLabels(name, 'ingress', { [LABEL.ingressSpec]: JSON.stringify(wanted) }),
    startsAsRoot: made.settings.startsAsRoot,
    served: servedPorts(made.settings, wanted),
    externalNetwork: wanted.externalNetwork,
    balancedNetwork: net,
    config: await configOfEveryRoute(host, made),
    statsPem: made.settings.statsCertificate.pem,
    servicePem: settings.certificate?.pem,
  }
  const container = await createHaproxy(host, profile, spec, created)
  await startHaproxy(host, container, spec)
  log.info(`Made ingress '${name}'`)
  return { ...made, id: container, files: await host.getFiles(container, CONFIG_DIR) }
}

// The ingress loads the configuration of every route the host records now, checked by its own
// HAProxy first: under the ingress's lock, so that no deployment's change is lost. `records`: the
// routes as read under this same lock hold, so as not to read every record again (on Podman the
// reads of an archive run one at a time).
// Returns the id the loaded configuration answers with (ingressConfigIdOf).
export async function reloadIngress(host: DockerHost, ingress: Ingress, records?: RouteRecords): Promise<string> {
  const config = { ...ingress.settings, routes: everyRouteOf(ingress.name, records ?? (await readRoutes(host, ingress.name))) }
  const user = (await host.inspect(ingress.id)).Config.User ?? ''
  await checkInside(host, ingress.id, `ingress '${ingress.name}'`, user, renderIngressConfigToCheck(config))
  await loadConfig(host, ingress.id, renderIngressConfig(config))
  return ingressConfigIdOf(config)
}

async function configOfEveryRoute(host: DockerHost, ingress: Ingress): Promise<string> {
  return renderIngressConfig({ ...ingress.settings, routes: await everyRoute(host, ingress.name) })
}

async function everyRoute(host: DockerHost, name: string): Promise<IngressRoute[]> {
  return everyRouteOf(name, await readRoutes(host, name))
}

function everyRouteOf(name: string, { routes, unreadable }: RouteRecords): IngressRoute[] {
  if (unreadable.length > 0) log.warning(`Route records of ingress '${name}' that hold no valid route, left out: ${unreadable.join('; ')}`)
  return routes
}

// Where it listens and its stats page's credentials, from what it was made with: the same for every
// deploy that renders its configuration.
function ingressSettingsOf(spec: IngressSpec, profile: HostProfile, files: Map<string, string>, name: string): Ingress['settings'] {
  return { ...lbSettingsOf({ ...spec, https: !!spec.certificate }, profile, files, name), drainTimeout: spec.drainTimeout }
}

function parseSpec(text: string | undefined): IngressSpec | undefined {
  try {
    const spec = JSON.parse(text ?? '') as IngressSpec
    return typeof spec === 'object' && spec !== null && typeof spec.haproxyImage === 'string' ? spec : undefined
  } catch {
    return undefined
  }
}
