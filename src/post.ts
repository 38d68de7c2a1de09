import { log } from './log'
import { readInputs, type InputReader } from './inputs'
import { resolveTarget } from './docker/target'
import { connectEngine, describe } from './docker/engine'
import type { DockerHost } from './docker/deploy-host'
import { dockerodeHost } from './docker/dockerode-host'
import { restorePreviousConfig } from './haproxy/reload'
import { LABEL } from './labels'
import { imageOnHost, releaseLock, type LockOptions } from './lock'
import { setRouteUnderLock } from './ingress/unroute'
import { describeLocked } from './names'
import { restartReplaced } from './recover'
import { leftDeploy, leftGitHubDeployment, leftLocks, type HeldLock, type UnsettledDeploy } from './state-helper'
import { connectGitHub } from './github/api'
import { recordInterrupted } from './github/deployments'
import { maskSecrets, readActionInput } from './main'

// The post step: the backstop for a main step that was killed (SIGKILL, 10 s after a cancel)
// before it could take back what it changed. The main step leaves in its state only what is still
// unsettled (state-helper.ts); after a main step that finished, cancelled or not, there is nothing.
// Like every clean-up it only warns: the next run of the deployment settles the rest.
export async function post(read: InputReader = readActionInput): Promise<void> {
  const deploy = leftDeploy()
  const locks = leftLocks()
  const githubDeployment = leftGitHubDeployment()
  if (!deploy && locks.length === 0 && !githubDeployment) {
    log.info('Nothing to clean up: the main step settled everything it started.')
    return
  }
  try {
    maskSecrets(read)
    const inputs = readInputs(read)
    // First, since it needs no Docker host: that may be what the main step could not reach.
    if (githubDeployment) await recordInterrupted(inputs.githubToken ? await connectGitHub(inputs.githubToken) : undefined, githubDeployment)
    if (!deploy && locks.length === 0) return
    const engine = await connectEngine(resolveTarget(inputs.dockerHost, inputs.tls, process.env))
    const host = dockerodeHost(engine.docker)
    // A shared ingress's lock first: the take-back may need it, and only the killed step held it.
    const release = async (lock: HeldLock) => {
      const released = await releaseLock(host, lock, lock.id, log)
      if (released === 'released') log.info(`Released the lock of ${describeLocked(lock)} the main step held`)
      // The step may have released it in the instant before it was killed, before it could note
      // that; or another run took it over since (its holder's process is gone): either way not ours.
      if (released === 'gone') log.info(`The lock of ${describeLocked(lock)} the main step held is gone already: nothing to release`)
    }
    for (const lock of locks.filter((l) => l.kind === 'ingress')) await release(lock)
    if (deploy) {
      const image = (await imageOnHost(host, inputs.haproxyImage)) ?? inputs.haproxyImage
      await takeBack(host, deploy, { host: engine.host, image, timeoutSeconds: inputs.waitTimeoutSeconds })
    }
    for (const lock of locks.filter((l) => l.kind !== 'ingress')) await release(lock)
  } catch (error) {
    log.warning(
      `The post step could not finish what the interrupted main step left: ${describe(error)}. The next run of the deployment settles it (it takes over a lock whose process is gone), or run teardown.`,
    )
  }
}

// In the order that keeps the previous deployment serving: its configuration (or its route on a
// shared ingress, under that ingress's lock: `lock`) back first, then this run's containers and
// volumes out of the way, then the services and load-balancer it had stopped started again.
export async function takeBack(host: DockerHost, deploy: UnsettledDeploy, lock: Omit<LockOptions, 'operation'>): Promise<void> {
  log.info(`The main step was interrupted while it deployed '${deploy.deployment}': taking back what it changed`)
  if (deploy.configChangedOn) await restoreConfig(host, deploy.configChangedOn)
  if (deploy.routeChangedOn) await restoreRouteOf(host, deploy.deployment, deploy.routeChangedOn, lock)
  const labels = [`${LABEL.deployment}=${deploy.deployment}`, `${LABEL.run}=${deploy.run}`]
  const [containers, networks, volumes] = await Promise.all([host.listContainers(labels), host.listNetworks(labels), host.listVolumes(labels)])
  // The lock is released by its ID, after everything else.
  const created = containers.filter((c) => c.labels[LABEL.role] !== 'lock')
  const failures = await host.remove(
    created.map((c) => c.id),
    networks.map((n) => n.id),
    volumes.map((v) => v.name),
  )
  if (failures.length > 0) throw new Error(`could not remove ${failures.join('; ')}`)
  const names = [...created.map((c) => c.name), ...volumes.map((v) => `volume ${v.name}`)]
  log.info(`Removed ${created.length + networks.length + volumes.length} object(s) the main step created${names.length ? `: ${names.join(', ')}` : ''}`)
  for (const { id, name } of deploy.replacedServices ?? []) await restartReplaced(host, id, name, 'service')
  if (deploy.replacedLb) await restartReplaced(host, deploy.replacedLb.id, deploy.replacedLb.name)
}

async function restoreRouteOf(
  host: DockerHost,
  deployment: string,
  { ingress, previous }: NonNullable<UnsettledDeploy['routeChangedOn']>,
  lock: Omit<LockOptions, 'operation'>,
): Promise<void> {
  await setRouteUnderLock(host, ingress, deployment, previous, lock)
  log.info(
    `Put back the route ${previous ? `of ${previous.hostname} the deployment had before` : 'of the deployment: it had none before'} on ingress '${ingress}'`,
  )
}

async function restoreConfig(host: DockerHost, lb: string): Promise<void> {
  if (await restorePreviousConfig(host, lb)) log.info('Restored the configuration the load-balancer had before the interrupted deploy')
}
