import { log, withSecretsMasked } from '../log'
import { describe } from '../docker/engine'
import type { DeploySettings } from '../inputs'
import { LABEL, deploymentLabels } from '../labels'
import { releaseName } from '../names'
import type { DeployPlan } from '../plan'
import type { StepContext } from '../steps/context'
import { ensureNetwork, newGenerationSpec } from '../steps/start'

// The release command (release-command): a migration or a seed, run once per generation in a
// one-off container of the new image as its instances will run (env, secret-env, size, the
// deployment's network), after the companion services are up and before the generation's first
// instance starts: no request meets code whose schema is not there yet, and a failed command leaves
// the previous generation serving alone.

// How much of the command's output the log shows, and the failure's message.
const OUTPUT_LINES = 50
const FAILURE_LINES = 10

// Once per generation: when this run starts its first instances. A generation that already serves
// ran it when it started, so an unchanged re-run and a scale-up do not run it again. A generation
// none of whose instances runs (all stopped, or a failed deploy of it undone) starts anew and runs
// it again: the command has to be safe to repeat, as migrations are.
export function releaseNeeded({ settings, plan }: { settings: Pick<DeploySettings, 'releaseCommand'>; plan: Pick<DeployPlan, 'create' | 'serving'> }): boolean {
  return !!settings.releaseCommand && plan.create.length > 0 && plan.create.length === plan.serving.length
}

// Exit 0 goes on; any other outcome throws, and the deploy's undo takes back the new generation.
// The container is removed whatever happens; a killed run's post step finds it by the run label.
export async function runRelease(ctx: StepContext): Promise<{ seconds: number }> {
  const { host, settings, plan, record } = ctx
  const command = settings.releaseCommand!
  record.remember({})
  ctx.signal?.throwIfAborted()
  await ensureNetwork(ctx)
  await removeLeftovers(ctx)
  const name = releaseName(settings.instancePrefix, plan.generation)
  const labels = deploymentLabels(settings.instancePrefix, 'release', { [LABEL.generation]: plan.generation })
  // No restart policy: it runs once (and a VCH would ignore one).
  const id = await host.createContainer(newGenerationSpec(ctx, name, labels, command)).catch((error) => {
    throw new Error(`Could not create the release command's container ${name} from ${settings.image}: ${describe(error)}`)
  })
  record.createdContainers.push(id)
  record.changed = true
  log.info(`Running the release command ${JSON.stringify(command)} in ${name} (${settings.image}) on network ${ctx.netName}`)
  const startedAt = Date.now()
  try {
    const exitCode = await exitCodeOf(ctx, id, name)
    const seconds = Math.round((Date.now() - startedAt) / 100) / 10
    // Masked here as well as by the runner: the command may print what it was given (a password
    // in a connection string), and outside the runner the failure's message leaves the run too.
    const output = withSecretsMasked((await host.recentLogs(id, OUTPUT_LINES).catch((error) => `(output unavailable: ${describe(error)})`)).trimEnd())
    if (output) {
      log.info(`Its output (at most the last ${OUTPUT_LINES} lines):`)
      log.quote(output)
    } else log.info('It wrote no output.')
    if (exitCode === 0) {
      log.info(`The release command exited 0 after ${seconds} s: generation ${plan.generation} starts.`)
      return { seconds }
    }
    const last = output.split('\n').slice(-FAILURE_LINES).join('\n') || '(none)'
    const outcome = exitCode === 'timeout' ? `did not finish within wait-timeout (${settings.waitTimeoutSeconds} s)` : `exited with code ${exitCode}`
    const fix = exitCode === 'timeout' ? 'Make it finish sooner or raise wait-timeout' : 'Fix the command or what it needs (services, env, secret-env)'
    throw new Error(
      `The release command ${outcome} after ${seconds} s: generation ${plan.generation} was not started, and what served before goes on serving. Its last output:\n${last}\n${fix}, then deploy again.`,
    )
  } finally {
    await removeRelease(ctx, id, name)
  }
}

// Its exit code, or 'timeout' once the deploy's wait-timeout is up; a cancelled run throws at once.
async function exitCodeOf(ctx: StepContext, id: string, name: string): Promise<number | 'timeout'> {
  await ctx.host.start(id).catch((error) => {
    throw new Error(
      `Could not start the release command in ${name}: ${describe(error)}. Check that release-command names a program of ${ctx.settings.image}: it is run as the image's ENTRYPOINT's arguments, or else on its own, never through a shell.`,
    )
  })
  ctx.signal?.throwIfAborted()
  const timeout = AbortSignal.timeout(Math.max(0, ctx.deadline - Date.now()))
  try {
    return await ctx.host.wait(id, ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout)
  } catch (error) {
    ctx.signal?.throwIfAborted()
    if (timeout.aborted) return 'timeout'
    throw new Error(`Lost track of the release command in ${name}: ${describe(error)}`)
  }
}

// Force-removed, which also stops a command still running. Once gone it leaves the record, so the
// undo does not count it as its own.
async function removeRelease(ctx: StepContext, id: string, name: string): Promise<void> {
  try {
    await ctx.host.removeContainer(id)
    ctx.record.createdContainers = ctx.record.createdContainers.filter((c) => c !== id)
  } catch (error) {
    log.warning(
      `Could not remove the release command's container ${name}: ${describe(error)}. The next deploy of the deployment or its teardown removes it; or remove it with docker rm -f ${name}.`,
    )
  }
}

// Left by a run killed before its post step removed it (stopped, or still running its command).
// This run holds the deployment's lock: no other run's command is running.
async function removeLeftovers(ctx: StepContext): Promise<void> {
  const { host, settings } = ctx
  const leftovers = await host.listContainers([`${LABEL.deployment}=${settings.instancePrefix}`, `${LABEL.role}=release`])
  if (leftovers.length === 0) return
  const names = leftovers.map((c) => c.name).join(', ')
  const failures = await host.remove(
    leftovers.map((c) => c.id),
    [],
  )
  if (failures.length > 0)
    throw new Error(
      `Could not remove the release command's container(s) an earlier run left (${names}): ${failures.join('; ')}. Remove them with docker rm -f, or run teardown.`,
    )
  log.info(`Removed the release command's container(s) an earlier run left: ${names}`)
}
