import { log } from '../log'
import { describe } from '../docker/engine'
import type { DockerHost } from '../docker/deploy-host'
import { lbUser, type HostProfile } from '../docker/host-profile'
import { CERTIFICATE_PATH, CONFIG_DIR, CONFIG_FILE, STATS_CERTIFICATE_FILE, STATS_CERTIFICATE_PATH, STATS_PORT, type LbSettings } from '../haproxy/config'
import { putCertificate } from '../haproxy/reload'
import { newStatsAuth, statsAuthIn } from '../haproxy/stats-auth'
import { statsCertificateFor } from '../haproxy/stats-certificate'

// An HAProxy container, a deployment's own load-balancer or a shared ingress (src/ingress), made
// the way a VCH accepts: created on ONE network with its ports published, connected to the
// network of what it balances, given its configuration, and only then started.

// Inside the container HAProxy listens on an unprivileged port when the Docker host publishes it,
// so the image's non-root user never needs to bind below 1024 there.
const PUBLISHED_LISTEN_PORT = 8080
const PUBLISHED_REDIRECT_PORT = 8081

// Where it is reached (lb-port, http-redirect-port, on external-network or published) and what it
// keeps from one deploy to the next (the stats page's credentials and certificate, read back from
// the configuration directory of a kept one, `kept`): the settings every HAProxy it runs shares.
export function lbSettingsOf(
  where: { externalNetwork: string; lbPort: number; httpRedirectPort?: number; https: boolean },
  profile: HostProfile,
  kept: Map<string, string>,
  statsName: string,
): LbSettings {
  const listenPort = where.externalNetwork ? where.lbPort : PUBLISHED_LISTEN_PORT
  const redirectListenPort = where.httpRedirectPort && (where.externalNetwork ? where.httpRedirectPort : PUBLISHED_REDIRECT_PORT)
  const keptConfig = kept.get(CONFIG_FILE)
  return {
    listenPort,
    servicePort: where.lbPort,
    redirectListenPort,
    certificateFile: where.https ? CERTIFICATE_PATH : undefined,
    statsAuth: (keptConfig !== undefined && statsAuthIn(keptConfig)) || newStatsAuth(),
    statsCertificate: statsCertificateFor(kept.get(STATS_CERTIFICATE_FILE), `vic-lb stats ${statsName}`),
    statsCertificateFile: STATS_CERTIFICATE_PATH,
    startsAsRoot: lbUser(profile, Math.min(listenPort, redirectListenPort || listenPort)) === 'root',
  }
}

// Each port it serves on inside, with where the Docker host publishes it and the input that says so.
export function servedPorts(lb: LbSettings, where: { lbPort: number; httpRedirectPort?: number }): HaproxyContainer['served'] {
  return [
    { inside: lb.listenPort, outside: where.lbPort, input: 'lb-port' },
    ...(lb.redirectListenPort ? [{ inside: lb.redirectListenPort, outside: where.httpRedirectPort!, input: 'http-redirect-port' }] : []),
  ]
}

export interface HaproxyContainer {
  // What it is in messages ('load-balancer', 'ingress'), and the name it serves under: its container
  // name, unless it is created beside the one it replaces (`<name>-next`).
  kind: string
  servesAs: string
  name: string
  image: string
  labels: Record<string, string>
  // Given only to bind a port below 1024 (host-profile.ts lbUser).
  startsAsRoot?: boolean
  // Each port it serves on inside, with where the Docker host publishes it and the input that says so.
  served: { inside: number; outside: number; input: string }[]
  // external-network: a container network of its own address; '' to publish on the Docker host.
  externalNetwork: string
  // Where what it balances runs, which it resolves by name.
  balancedNetwork: string
  config: string
  statsPem: string
  // lb-certificate, for HTTPS.
  servicePem?: string
}

// Created and configured, not started; `created` learns the ID as soon as there is one, so that an
// undo removes it whatever fails after.
export async function createHaproxy(host: DockerHost, profile: HostProfile, spec: HaproxyContainer, created: (id: string) => void): Promise<string> {
  const { kind, name, image, served, externalNetwork, balancedNetwork } = spec
  const firstNetwork = externalNetwork || balancedNetwork
  const stats = `${STATS_PORT}/tcp`
  const container = await host
    .createContainer({
      name,
      Image: image,
      Labels: spec.labels,
      ...(spec.startsAsRoot ? { User: 'root' } : {}),
      ExposedPorts: Object.fromEntries([...served.map(({ inside }) => [`${inside}/tcp`, {}]), [stats, {}]]),
      HostConfig: {
        NetworkMode: firstNetwork,
        RestartPolicy: profile.restartPolicy,
        // On a container network publishing opens the VCH firewall for the port; on the Docker
        // host's own network it maps lb-port (and http-redirect-port), and the stats page to a free port.
        PortBindings: Object.fromEntries([
          ...served.map(({ inside, outside }) => [`${inside}/tcp`, [{ HostPort: externalNetwork ? '' : String(outside) }]]),
          [stats, [{ HostPort: '' }]],
        ]),
      },
      NetworkingConfig: { EndpointsConfig: { [firstNetwork]: {} } },
    })
    .catch((error) => {
      throw new Error(`Could not create ${kind} ${name} from ${image}: ${describe(error)}`)
    })
  created(container)
  if (externalNetwork) await host.connect(balancedNetwork, container)
  const placed = host
    .hasPath(container, CONFIG_DIR)
    .then((found) => (found ? host.putFile(container, CONFIG_DIR, CONFIG_FILE, spec.config) : Promise.reject(new Error('the image has no such directory'))))
  await placed.catch((error) => {
    throw new Error(
      `Could not put the HAProxy configuration into ${CONFIG_DIR} of ${kind} ${name}: ${describe(error)}. haproxy-image must be built like the official haproxy image (${image} may not be).`,
    )
  })
  await putCertificate(host, container, 'stats', spec.statsPem, name)
  if (spec.servicePem) await putCertificate(host, container, 'service', spec.servicePem, name)
  return container
}

// The stats page is published on a port the Docker host picks from the kernel's ephemeral range,
// where a client's connection may hold the very port it picks: dockerd's userland proxy then cannot
// bind it ("listen tcp4 0.0.0.0:32957: bind: address already in use", seen in the e2e suite). Such a
// start is tried again, and the host picks another port.
const PICKED_PORT_ATTEMPTS = 3

// A port taken on the Docker host is named with the input that chose it.
export async function startHaproxy(
  host: DockerHost,
  container: string,
  { kind, servesAs, served }: Pick<HaproxyContainer, 'kind' | 'servesAs' | 'served'>,
): Promise<void> {
  const what = `${kind} ${servesAs}`
  for (let attempt = 1; ; attempt++) {
    try {
      await host.start(container)
      break
    } catch (error) {
      const message = describe(error)
      const port = portInUse(message)
      if (port !== undefined && !served.some((s) => s.outside === port) && attempt < PICKED_PORT_ATTEMPTS) continue
      const taken = /port is already allocated|address already in use/i.test(message)
      throw new Error(
        `Could not start ${what}: ${message}${taken ? `. Port ${served.map((s) => s.outside).join(' or ')} is taken on the Docker host: choose another ${served.map((s) => s.input).join(' or ')} or stop what uses it.` : ''}`,
      )
    }
  }
  log.info(`Started ${what}`)
}

// The port a start could not bind, where the engine's message names it.
function portInUse(message: string): number | undefined {
  const match = /:(\d+): bind: address already in use|:(\d+) failed: port is already allocated/.exec(message)
  return match ? Number(match[1] ?? match[2]) : undefined
}
