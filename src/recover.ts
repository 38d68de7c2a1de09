import { log } from './log'
import type Docker from 'dockerode'
import type { DockerHost } from './docker/deploy-host'
import { describe } from './docker/engine'
import { containerName } from './docker/state'
import { LABEL } from './labels'

// A run killed while it replaced the load-balancer (steps/start.ts standAside) and whose post step never
// ran (a runner that died) leaves `<lb>-next` (the replacement, not started) or `<lb>-old` (the
// previous load-balancer, stopped, kept to fall back on). The next run of the deployment, holding
// its lock, puts that right before it plans: a complete replacement is kept, otherwise the
// previous load-balancer serves again; then the deploy goes on as usual.
export async function settleInterruptedReplacement(docker: Docker, deployment: string, lbName: string): Promise<void> {
  const lbs = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${LABEL.deployment}=${deployment}`, `${LABEL.role}=lb`] }),
  })
  const named = (name: string): Docker.ContainerInfo | undefined => lbs.find((c) => containerName(c) === name)
  const [current, next, old] = [named(lbName), named(`${lbName}-next`), named(`${lbName}-old`)]
  if (!next && !old) return
  const fail = (what: string) => (error: unknown) => {
    throw new Error(
      `Could not settle the load-balancer replacement an interrupted run left (${what}): ${describe(error)}. Run teardown, or remove ${lbName}-next and ${lbName}-old by hand.`,
    )
  }
  if (next) {
    await docker
      .getContainer(next.Id)
      .remove({ force: true })
      .catch(fail(`removing ${lbName}-next`))
    log.info(`Removed ${lbName}-next, a replacement load-balancer an interrupted run had not started`)
  }
  if (!old) return
  // `<lb>` beside `<lb>-old` is a replacement that was complete (created, connected, configured):
  // it is started (its start may even have been under way) and checked like any kept one. Only if
  // it cannot start does the previous load-balancer serve again.
  if (current) {
    const started = await startContainer(docker.getContainer(current.Id)).then(
      () => true,
      (error) => {
        log.info(`The replacement load-balancer ${lbName} an interrupted run left does not start (${describe(error)}); removing it`)
        return false
      },
    )
    if (started) {
      await docker
        .getContainer(old.Id)
        .remove({ force: true })
        .catch(fail(`removing ${lbName}-old`))
      log.info(`Removed ${lbName}-old: an interrupted run had replaced it, and its replacement runs`)
      return
    }
    await docker
      .getContainer(current.Id)
      .remove({ force: true })
      .catch(fail(`removing the replacement ${lbName} that does not start`))
  }
  const previous = docker.getContainer(old.Id)
  await previous.rename({ name: lbName }).catch(fail(`renaming ${lbName}-old back`))
  await startContainer(previous).catch(fail(`starting ${lbName} again`))
  log.info(`Started the previous load-balancer ${lbName} again: an interrupted run had stopped it to replace it`)
}

// Already running counts as started (304).
async function startContainer(container: Docker.Container): Promise<void> {
  await container.start().catch((error) => {
    if ((error as { statusCode?: number }).statusCode !== 304) throw error
  })
}

// The load-balancer a replacement stopped, started again under its own name: for the undo of a
// failed or cancelled run, and for the post step of a killed one.
export async function restartReplacedLb(host: DockerHost, lb: string, name: string): Promise<void> {
  const { Name } = await host.inspect(lb)
  if (Name.replace(/^\//, '') !== name) await host.rename(lb, name)
  await host.start(lb)
  log.info(`Started the previous load-balancer ${name} again`)
}
