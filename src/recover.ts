import { log } from './log'
import type { ContainerSummary, DockerHost } from './docker/deploy-host'
import { describe } from './docker/engine'
import { LABEL } from './labels'

// A run killed while it replaced the load-balancer (steps/own-load-balancer.ts standAside) and
// whose post step never ran (a runner that died) leaves `<lb>-next` (the replacement, not started)
// or `<lb>-old` (the previous load-balancer, stopped, kept to fall back on). The next run of the
// deployment, holding its lock, puts that right before it plans: a complete replacement is kept,
// otherwise the previous load-balancer serves again; then the deploy goes on as usual.
// `containers` are the deployment's, as listed under the lock; says whether it changed any.
export async function settleInterruptedReplacement(host: DockerHost, containers: ContainerSummary[], lbName: string): Promise<boolean> {
  const named = (name: string): ContainerSummary | undefined => containers.find((c) => c.name === name && c.labels[LABEL.role] === 'lb')
  const [current, next, old] = [named(lbName), named(`${lbName}-next`), named(`${lbName}-old`)]
  if (!next && !old) return false
  const fail = (what: string) => (error: unknown) => {
    throw new Error(
      `Could not settle the load-balancer replacement an interrupted run left (${what}): ${describe(error)}. Run teardown, or remove ${lbName}-next and ${lbName}-old by hand.`,
    )
  }
  // Removed like any object of a failed run, but here a failure stops the deploy.
  const remove = async (id: string): Promise<void> => {
    const [failure] = await host.remove([id], [])
    if (failure) throw new Error(failure)
  }
  if (next) {
    await remove(next.id).catch(fail(`removing ${lbName}-next`))
    log.info(`Removed ${lbName}-next, a replacement load-balancer an interrupted run had not started`)
  }
  if (!old) return true
  // `<lb>` beside `<lb>-old` is a replacement that was complete (created, connected, configured):
  // it is started (its start may even have been under way) and checked like any kept one. Only if
  // it cannot start does the previous load-balancer serve again.
  if (current) {
    const started = await host.start(current.id).then(
      () => true,
      (error) => {
        log.info(`The replacement load-balancer ${lbName} an interrupted run left does not start (${describe(error)}); removing it`)
        return false
      },
    )
    if (started) {
      await remove(old.id).catch(fail(`removing ${lbName}-old`))
      log.info(`Removed ${lbName}-old: an interrupted run had replaced it, and its replacement runs`)
      return true
    }
    await remove(current.id).catch(fail(`removing the replacement ${lbName} that does not start`))
  }
  await host.rename(old.id, lbName).catch(fail(`renaming ${lbName}-old back`))
  await host.start(old.id).catch(fail(`starting ${lbName} again`))
  log.info(`Started the previous load-balancer ${lbName} again: an interrupted run had stopped it to replace it`)
  return true
}

// The load-balancer (or a companion service) a replacement stopped, started again under its own
// name: for the undo of a failed or cancelled run, and for the post step of a killed one.
export async function restartReplaced(host: DockerHost, container: string, name: string, what = 'load-balancer'): Promise<void> {
  const { Name } = await host.inspect(container)
  if (Name.replace(/^\//, '') !== name) await host.rename(container, name)
  await host.start(container)
  log.info(`Started the previous ${what} ${name} again`)
}
