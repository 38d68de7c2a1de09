import { log } from '../log'
import type { DockerHost } from '../docker/deploy-host'
import { LABEL } from '../labels'

// Removing the shared ingress is explicit (command remove-ingress) and refused while deployments
// are routed through it, unless forced. Forced, their route records stay: the next deploy that
// names the ingress makes it again with every route. Runs under the ingress's lock.
export async function removeIngress(host: DockerHost, name: string, force: boolean): Promise<void> {
  const labels = await host.labelsOf('container', name)
  if (labels && (labels[LABEL.role] !== 'ingress' || labels[LABEL.ingress] !== name))
    throw new Error(`The container named ${name} on the Docker host is not ingress '${name}'. Nothing was removed.`)
  const routed = (await host.listContainers([`${LABEL.ingress}=${name}`, `${LABEL.role}=route`])).map((r) => r.labels[LABEL.deployment] ?? r.name)
  if (routed.length > 0 && !force)
    throw new Error(
      `Ingress '${name}' still routes ${routed.length} deployment(s). Nothing was removed. Tear them down first (teardown, or prune), or give force: true to remove the ingress anyway: they serve nothing until a deploy makes it again.`,
    )
  const networks = (await host.listNetworks([`${LABEL.ingress}=${name}`, `${LABEL.role}=network`])).map((n) => n.id)
  if (!labels && networks.length === 0) {
    log.info(`Nothing to remove: there is no ingress '${name}' on the Docker host.`)
    return
  }
  // The network goes only once no routed instance is on it: with force, theirs may still be.
  const failures = await host.remove(labels ? [name] : [], routed.length === 0 ? networks : [])
  if (failures.length > 0) throw new Error(`Could not remove ingress '${name}': ${failures.join('; ')}. Run remove-ingress again.`)
  log.info(
    `Removed ingress '${name}'${routed.length > 0 ? `; ${routed.length} deployment(s) routed through it keep their routes and serve again once a deploy makes it again` : ''}`,
  )
}
