import * as fs from 'node:fs'
import * as os from 'node:os'
import type Docker from 'dockerode'
import { sleep } from './cancel'
import { describe } from './docker/engine'
import { isNameClash, type HostProfile } from './docker/host-profile'
import { LABEL, deploymentLabels } from './labels'
import { workflowRunOf } from './github/runs'
import { log as runLog } from './log'
import { lockName } from './names'
import { forgetLock, rememberLock } from './state-helper'

// One run at a time per deployment: two runs for the same pull request (a push while the last
// deploy still runs, a close during a deploy) must not interleave their changes. The lock lives
// on the Docker host, where every run of every runner sees it: a container that is created and
// never started. Docker gives a name to one container only, atomically, so creating
// `<deployment>-lock` either takes the lock or fails with a name clash while someone holds it.

export type Operation = 'deploy' | 'teardown' | 'prune'

export interface LockOptions {
  operation: Operation
  // Tells a name clash (someone holds the lock) from a failure: a 409, or a 500 on Podman.
  host: HostProfile
  // An image on the Docker host to create the lock container from (see imageOnHost).
  image: string
  // How long to wait for the holder; a lock older than this belongs to a run that died.
  timeoutSeconds: number
  // Who takes the lock, as waiting runs will read it: see holderOf.
  holder?: string
  log?: LockLog
  pollMs?: number
  reportEveryMs?: number
  // Cancels the wait for the lock (cancel.ts).
  signal?: AbortSignal
  // Whether a holder's workflow run has completed (with a github-token: github/runs.ts).
  runFinished?: (run: string) => Promise<boolean>
}

export interface LockLog {
  info(message: string): void
  warning(message: string): void
}

// Only the holder's fields the waiting runs need, read from the lock container's labels.
export interface LockHolder {
  id: string
  operation: string
  holder: string
  since: Date
  // The holder's process as processIdentity wrote it, when it could.
  process?: string
  // The holder's workflow run as workflowRunOf wrote it, on a runner.
  run?: string
}

const POLL_MS = 1_000
// How often a waiting run asks GitHub again whether the holder's workflow run has completed.
const ASK_GITHUB_EVERY_MS = 10_000
const REPORT_EVERY_MS = 10_000
// A VCH refuses to create a container without a command. The lock is never started; should
// somebody start it by hand, this command fails at once instead of running the image's service.
const LOCK_COMMAND = ['vic-lb-action-lock: never started']

// Names the holder so that a waiting run can say whom it waits for: the workflow run (and its
// attempt) on a runner, else the machine and process.
export function holderOf(env: NodeJS.ProcessEnv = process.env, host = os.hostname(), pid = process.pid): string {
  if (env.GITHUB_RUN_ID) {
    const run = `run ${env.GITHUB_RUN_ID}/${env.GITHUB_RUN_ATTEMPT ?? '1'}`
    return env.GITHUB_REPOSITORY ? `${run} of ${env.GITHUB_REPOSITORY}` : run
  }
  return `${host} pid ${pid}`
}

// Who holds a lock, precisely enough to prove later that the process is gone: its machine (host
// name and boot), PID namespace, PID and the PID's start time (a reused PID starts later).
export function processIdentity(pid = process.pid): string | undefined {
  const machine = thisMachine()
  const started = startTimeOf(pid)
  return machine && started ? `${machine} ${pid} ${started}` : undefined
}

// True only when the holder ran on this machine and its process no longer runs. A holder
// elsewhere, or one whose identity is unknown, may be alive: it is waited for.
export function holderProcessGone(identity: string | undefined): boolean {
  const machine = thisMachine()
  const parts = identity?.split(' ') ?? []
  if (!machine || parts.length !== 5 || parts.slice(0, 3).join(' ') !== machine) return false
  return startTimeOf(Number(parts[3])) !== parts[4]
}

function thisMachine(): string | undefined {
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
    const pidNamespace = fs.readlinkSync('/proc/self/ns/pid').replace(/\D/g, '')
    return `${os.hostname()} ${boot} ${pidNamespace}`
  } catch {
    return undefined // not Linux: nothing is provable
  }
}

// Field 22 of /proc/<pid>/stat, counted after the command name (which may hold spaces).
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

export async function withDeploymentLock<T>(docker: Docker, deployment: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquire(docker, deployment, options)
  try {
    return await fn()
  } finally {
    await releaseLock(docker, deployment, lock, options.log ?? runLog)
  }
}

async function acquire(docker: Docker, deployment: string, options: LockOptions): Promise<string> {
  const log = options.log ?? runLog
  const name = lockName(deployment)
  const timeoutMs = options.timeoutSeconds * 1000
  const startedWaiting = Date.now()
  let lastReport: number | undefined
  const askedGitHub = new Map<string, number>() // lock container ID -> when
  for (;;) {
    options.signal?.throwIfAborted()
    const taken = await tryCreate(docker, deployment, options)
    if (taken) {
      rememberLock({ deployment, id: taken })
      if (lastReport !== undefined) log.info(`Took the lock ${name} after waiting ${Math.round((Date.now() - startedWaiting) / 1000)} s`)
      return taken
    }
    const current = await readHolder(docker, name, deployment)
    if (!current) continue // released between our attempt and our look: try again at once
    const now = Date.now()
    const gone = holderProcessGone(current.process)
      ? 'whose process on this machine no longer runs'
      : (await runCompleted(current, options, askedGitHub))
        ? 'whose workflow run has completed'
        : now - current.since.getTime() > timeoutMs
          ? `longer ago than wait-timeout (${options.timeoutSeconds} s), so that run is taken to have died without releasing it`
          : undefined
    if (gone) {
      log.warning(
        `Taking over the lock ${name} of deployment '${deployment}': it was taken for the ${current.operation} started at ${current.since.toISOString()} by ${current.holder}, ${gone}.`,
      )
      await removeById(docker, current.id).catch((error) => {
        throw new Error(`Could not remove the stale lock ${name} of deployment '${deployment}': ${describe(error)}. Remove it with 'docker rm -f ${name}'.`)
      })
      continue
    }
    if (now - startedWaiting >= timeoutMs)
      throw new Error(
        `Gave up after ${options.timeoutSeconds} s (wait-timeout) waiting for the ${current.operation} of '${deployment}' started at ${current.since.toISOString()} by ${current.holder}. Run again once it has finished; if that run no longer exists, remove its lock with 'docker rm -f ${name}'.`,
      )
    if (lastReport === undefined || now - lastReport >= (options.reportEveryMs ?? REPORT_EVERY_MS)) {
      log.info(
        `Waiting for the ${current.operation} of '${deployment}' started at ${current.since.toISOString()} by ${current.holder} (waited ${Math.round((now - startedWaiting) / 1000)} s of at most ${options.timeoutSeconds} s)`,
      )
      lastReport = now
    }
    await sleep(options.pollMs ?? POLL_MS, options.signal)
  }
}

async function runCompleted(holder: LockHolder, options: LockOptions, asked: Map<string, number>): Promise<boolean> {
  if (!holder.run || !options.runFinished) return false
  const last = asked.get(holder.id)
  if (last !== undefined && Date.now() - last < ASK_GITHUB_EVERY_MS) return false
  asked.set(holder.id, Date.now())
  return options.runFinished(holder.run)
}

// The lock container's ID when this run took the lock; undefined when somebody else holds it.
async function tryCreate(docker: Docker, deployment: string, options: LockOptions): Promise<string | undefined> {
  const name = lockName(deployment)
  try {
    const container = await docker.createContainer({
      name,
      Image: options.image,
      Cmd: LOCK_COMMAND,
      Labels: deploymentLabels(deployment, 'lock', {
        [LABEL.holder]: options.holder ?? holderOf(),
        [LABEL.operation]: options.operation,
        ...withValue(LABEL.holderProcess, processIdentity()),
        ...withValue(LABEL.holderRun, workflowRunOf()),
      }),
    })
    return container.id
  } catch (error) {
    if (isNameClash(options.host, error)) return undefined
    throw new Error(
      `Could not create the lock container ${name} of deployment '${deployment}' from image ${options.image}: ${describe(error)}. Check that the Docker host can create containers and has that image.`,
    )
  }
}

// Who holds the lock now; undefined when it is gone (released in the meantime).
async function readHolder(docker: Docker, name: string, deployment: string): Promise<LockHolder | undefined> {
  let inspected: Docker.ContainerInspectInfo
  try {
    inspected = await docker.getContainer(name).inspect()
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined
    throw new Error(`Could not read the lock ${name} of deployment '${deployment}': ${describe(error)}.`)
  }
  const labels = inspected.Config?.Labels ?? {}
  if (labels[LABEL.deployment] !== deployment || labels[LABEL.role] !== 'lock')
    throw new Error(
      `A container named ${name} exists on the Docker host and is not the lock of deployment '${deployment}'${labels[LABEL.deployment] ? ` (it belongs to deployment '${labels[LABEL.deployment]}')` : ''}. Rename or remove it, or choose another instance-prefix.`,
    )
  return holderFromLabels(inspected.Id, labels, inspected.Created)
}

// Pure: the holder as the labels tell it. A lock without a readable time counts from the
// container's creation on the Docker host.
export function holderFromLabels(id: string, labels: Record<string, string>, createdOnHost: string): LockHolder {
  const labelled = new Date(labels[LABEL.created] ?? '')
  return {
    id,
    operation: labels[LABEL.operation] || 'deploy',
    holder: labels[LABEL.holder] || 'an unknown run',
    since: Number.isNaN(labelled.getTime()) ? new Date(createdOnHost) : labelled,
    ...(labels[LABEL.holderProcess] ? { process: labels[LABEL.holderProcess] } : {}),
    ...(labels[LABEL.holderRun] ? { run: labels[LABEL.holderRun] } : {}),
  }
}

function withValue(label: string, value: string | undefined): Record<string, string> {
  return value ? { [label]: value } : {}
}

// By ID, never by name: a lock that was taken over in the meantime belongs to another run.
async function removeById(docker: Docker, id: string): Promise<boolean> {
  try {
    await docker.getContainer(id).remove({ force: true })
    return true
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false
    throw error
  }
}

// By the ID this run took it with (the post step of a killed run releases it the same way).
export async function releaseLock(docker: Docker, deployment: string, id: string, log: LockLog): Promise<void> {
  const name = lockName(deployment)
  try {
    const removed = await removeById(docker, id)
    forgetLock(id)
    if (!removed)
      log.warning(
        `The lock ${name} of deployment '${deployment}' was taken over by another run while this one held it: this run took longer than wait-timeout.`,
      )
  } catch (error) {
    log.warning(
      `Could not release the lock ${name} of deployment '${deployment}': ${describe(error)}. The next run waits until it is older than wait-timeout; remove it with 'docker rm -f ${name}' to go on sooner.`,
    )
  }
}

// The lock container is never started, so any image on the host will do; the preferred one (the
// HAProxy image) when it is there. Undefined on a host without any image.
export async function imageOnHost(docker: Docker, preferred: string): Promise<string | undefined> {
  try {
    await docker.getImage(preferred).inspect()
    return preferred
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error
  }
  const [any] = await docker.listImages()
  return any?.Id
}
