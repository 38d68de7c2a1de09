import * as fs from 'node:fs'
import * as os from 'node:os'
import { sleep } from './cancel'
import type { DockerHost } from './docker/deploy-host'
import { describe } from './docker/engine'
import { LeaseLostError } from './errors'
import { isNameClash, type HostProfile } from './docker/host-profile'
import { LABEL, deploymentLabels, ingressLabels } from './labels'
import { workflowRunOf } from './github/runs'
import { log as runLog } from './log'
import { describeLocked, lockName, type Locked } from './names'
import { forgetLock, rememberLock } from './state-helper'

// One run at a time per deployment: two runs for the same pull request (a push while the last
// deploy still runs, a close during a deploy) must not interleave their changes. The lock lives
// on the Docker host, where every run of every runner sees it: a container that is created and
// never started. Docker gives a name to one container only, atomically, so creating
// `<deployment>-lock` either takes the lock or fails with a name clash while someone holds it.
//
// A lock is a lease: its holder renews it every few seconds by writing a counter into the lock
// container (an archive upload, which works on a never-started container on every host, a VCH
// included), and a waiting run takes it over only once that counter has stood still for the lapse
// time on the waiter's own clock (no clocks are compared), or once its holder is provably gone.
// Never because of its age: a live run is always waited for. A holder that cannot renew (a
// network cut) stops before its next write to the host, well before anyone may take over.

// route: a deploy or teardown changing its route on a shared ingress (src/ingress).
export type Operation = 'deploy' | 'teardown' | 'prune' | 'route'

// The label that names what a lock is for: the ingress's lock belongs to no deployment, so that a
// deployment's teardown and prune never see it.
function labelOf({ kind }: Locked): string {
  return kind === 'deployment' ? LABEL.deployment : LABEL.ingress
}

export interface LockOptions {
  operation: Operation
  // Tells a name clash (someone holds the lock) from a failure: a 409, or a 500 on Podman.
  host: HostProfile
  // An image on the Docker host to create the lock container from (see imageOnHost).
  image: string
  // How long to wait for the holder before giving up.
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
  lease?: LeaseTiming
}

export interface LeaseTiming {
  // How often the holder renews.
  beatMs: number
  // How long a waiter sees no renewal before it takes the lock over (the lock's label says it).
  lapseMs: number
  // How long after its last renewal the holder still writes: well inside the lapse, so that a
  // write under way when the lease runs out still lands before any waiter could take over.
  holdMs: number
}

// Four beats to lapse; the holder stops writing after two missed ones.
export const LEASE: LeaseTiming = { beatMs: 4_000, lapseMs: 16_000, holdMs: 10_000 }
const LEASE_DIR = '/'
const LEASE_FILE = 'vic-lb-lease'

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
  // How long the lease may go unrenewed; undefined for a lock of an earlier version, which renews none.
  lapseMs?: number
}

const POLL_MS = 1_000
const INGRESS_POLL_MS = 100
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

// Runs fn while this run holds the deployment's lease; fn gets the host to write through, which
// refuses every write once the lease cannot be vouched for (LeaseLostError).
export function withDeploymentLock<T>(host: DockerHost, deployment: string, options: LockOptions, fn: (host: DockerHost) => Promise<T>): Promise<T> {
  return withLock(host, { kind: 'deployment', name: deployment }, options, fn)
}

// The same for one change of a shared ingress's routes: taken inside the deployment's lock (never
// the other way round, so two runs cannot wait for each other), for as long as one change takes.
// It is held for a record write and a reload, a second or so: waiters ask again often.
export function withIngressLock<T>(host: DockerHost, ingress: string, options: LockOptions, fn: (host: DockerHost) => Promise<T>): Promise<T> {
  return withLock(host, { kind: 'ingress', name: ingress }, { pollMs: INGRESS_POLL_MS, ...options }, fn)
}

async function withLock<T>(host: DockerHost, locked: Locked, options: LockOptions, fn: (host: DockerHost) => Promise<T>): Promise<T> {
  const log = options.log ?? runLog
  const id = await acquire(host, locked, options)
  const lease = new Lease(host, locked, id, options.lease ?? LEASE)
  try {
    return await fn(lease.guard(host))
  } finally {
    lease.stop()
    if ((await releaseLock(host, locked, id, log)) === 'gone')
      log.warning(`The lock ${lockName(locked.name)} of ${describeLocked(locked)} was taken over by another run while this one held it: its lease had lapsed.`)
  }
}

// The holder's side: renews, and knows whether it may still write.
class Lease {
  private beats = 0
  private renewedAt = Date.now() // the lock was created just now
  private lost?: string
  private lastError?: string
  private timer?: NodeJS.Timeout
  private stopped = false

  constructor(
    private host: DockerHost,
    private locked: Locked,
    private id: string,
    private timing: LeaseTiming,
  ) {
    void this.renew()
  }

  private async renew(): Promise<void> {
    try {
      await this.host.putFile(this.id, LEASE_DIR, LEASE_FILE, `${++this.beats}\n`)
      this.renewedAt = Date.now()
    } catch (error) {
      if (isGone(error)) this.lost = 'its lock container is gone: another run took the lock over'
      else this.lastError = describe(error)
    }
    if (!this.stopped && !this.lost) {
      this.timer = setTimeout(() => void this.renew(), this.timing.beatMs)
      this.timer.unref()
    }
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
  }

  assertHeld(): void {
    const since = Date.now() - this.renewedAt
    const why =
      this.lost ?? (since > this.timing.holdMs ? `it could not be renewed for ${Math.round(since / 1000)} s (${this.lastError ?? 'no answer'})` : undefined)
    if (why)
      throw new LeaseLostError(
        `This run lost the lock ${lockName(this.locked.name)} of ${describeLocked(this.locked)}: ${why}. It stopped before changing anything more on the Docker host; another run may be working on the ${this.locked.kind} now. Check the connection to the Docker host and run again: the next run settles what this one left.`,
      )
  }

  // Every call that changes the host first checks the lease; reads pass.
  guard(host: DockerHost): DockerHost {
    const writes: ReadonlySet<PropertyKey> = new Set(WRITES)
    return new Proxy(host, {
      get: (target, property) => {
        const value: unknown = Reflect.get(target, property)
        if (typeof value !== 'function') return value
        const call = value.bind(target) as (...args: unknown[]) => unknown
        if (!writes.has(property)) return call
        return (...args: unknown[]) => {
          this.assertHeld()
          return call(...args)
        }
      },
    })
  }
}

const WRITES = [
  'createNetwork',
  'createContainer',
  'connect',
  'start',
  'stop',
  'rename',
  'remove',
  'removeContainer',
  'putFile',
  'exec',
  'signal',
] as const satisfies readonly (keyof DockerHost)[]

// The waiter's side: the lease's counter as last read, and since when (on this machine's clock).
interface Observed {
  id: string
  value: string | undefined
  since: number
}

async function acquire(host: DockerHost, locked: Locked, options: LockOptions): Promise<string> {
  const log = options.log ?? runLog
  const name = lockName(locked.name)
  const timeoutMs = options.timeoutSeconds * 1000
  const startedWaiting = Date.now()
  let lastReport: number | undefined
  let waited = false
  let observed: Observed | undefined
  const askedGitHub = new Map<string, number>() // lock container ID -> when
  for (;;) {
    options.signal?.throwIfAborted()
    const taken = await tryCreate(host, locked, options)
    if (taken) {
      rememberLock({ ...locked, id: taken })
      if (waited) log.info(`Took the lock ${name} after waiting ${Math.round((Date.now() - startedWaiting) / 1000)} s`)
      return taken
    }
    waited = true
    const current = await readHolder(host, name, locked)
    if (!current) continue // released between our attempt and our look: try again at once
    observed = await observeLease(host, current, observed)
    if (!observed) continue // removed while we read it
    const now = Date.now()
    const gone = holderProcessGone(current.process)
      ? 'whose process on this machine no longer runs'
      : current.lapseMs !== undefined && now - observed.since >= current.lapseMs
        ? `whose lease lapsed: it was not renewed for ${Math.round((now - observed.since) / 1000)} s, so that run is taken to have died`
        : (await runCompleted(current, options, askedGitHub))
          ? 'whose workflow run has completed'
          : current.lapseMs === undefined && now - current.since.getTime() > timeoutMs
            ? `made by an earlier version of the action that renews no lease, and older than wait-timeout (${options.timeoutSeconds} s)`
            : undefined
    if (gone) {
      const removed = await host.removeContainer(current.id).catch((error) => {
        throw new Error(`Could not remove the stale lock ${name} of ${describeLocked(locked)}: ${describe(error)}. Remove it with 'docker rm -f ${name}'.`)
      })
      // Not removed: its holder released it since we looked (a process that ended after its release).
      if (removed)
        log.warning(
          `Taking over the lock ${name} of ${describeLocked(locked)}: it was taken for the ${current.operation} started at ${current.since.toISOString()} by ${current.holder}, ${gone}.`,
        )
      continue
    }
    if (now - startedWaiting >= timeoutMs)
      throw new Error(
        `Gave up after ${options.timeoutSeconds} s (wait-timeout) waiting for the ${current.operation} of '${locked.name}' started at ${current.since.toISOString()} by ${current.holder}, which still holds it. Run again once that run has finished, or give a longer wait-timeout.`,
      )
    if (lastReport === undefined || now - lastReport >= (options.reportEveryMs ?? REPORT_EVERY_MS)) {
      log.info(
        `Waiting for the ${current.operation} of '${locked.name}' started at ${current.since.toISOString()} by ${current.holder} (waited ${Math.round((now - startedWaiting) / 1000)} s of at most ${options.timeoutSeconds} s)`,
      )
      lastReport = now
    }
    await sleep(options.pollMs ?? POLL_MS, options.signal)
  }
}

// Reads the lease's counter; the time it stood still starts anew whenever it (or the lock) changes.
// Undefined when the lock is gone.
async function observeLease(host: DockerHost, holder: LockHolder, last: Observed | undefined): Promise<Observed | undefined> {
  if (holder.lapseMs === undefined) return { id: holder.id, value: undefined, since: Date.now() }
  let value: string | undefined
  try {
    value = await host.getFile(holder.id, `/${LEASE_FILE}`)
  } catch (error) {
    if (isGone(error) || (await isGoneNow(host, holder.id))) return undefined
    throw new Error(`Could not read the lease of the lock container ${holder.id.slice(0, 12)}: ${describe(error)}.`)
  }
  return last && last.id === holder.id && last.value === value ? last : { id: holder.id, value, since: Date.now() }
}

// Whether the error says the container is gone. Podman (seen on 5.4) answers a call on a container
// that is removed while it answers (a lock being released) with a 500 "... no such container",
// not a 404: its name or ID was found, then the container was not.
function isGone(error: unknown): boolean {
  const { statusCode, message } = error as { statusCode?: number; message?: string }
  return statusCode === 404 || (statusCode === 500 && /no such container/i.test(String(message)))
}

// Whether the container is gone by now, or going, whatever an earlier error on it said: dockerd
// answers a read of a container it is removing (a lock being released) with a 500 about its layer.
async function isGoneNow(host: DockerHost, id: string): Promise<boolean> {
  try {
    const { State } = await host.inspect(id)
    return State.Status === 'removing' || State.Status === 'dead'
  } catch (error) {
    return isGone(error)
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
async function tryCreate(host: DockerHost, locked: Locked, options: LockOptions): Promise<string | undefined> {
  const name = lockName(locked.name)
  const labels = locked.kind === 'deployment' ? deploymentLabels : ingressLabels
  try {
    return await host.createContainer({
      name,
      Image: options.image,
      Cmd: LOCK_COMMAND,
      Labels: labels(locked.name, 'lock', {
        [LABEL.holder]: options.holder ?? holderOf(),
        [LABEL.operation]: options.operation,
        [LABEL.leaseLapse]: String((options.lease ?? LEASE).lapseMs),
        ...withValue(LABEL.holderProcess, processIdentity()),
        ...withValue(LABEL.holderRun, workflowRunOf()),
      }),
    })
  } catch (error) {
    if (isNameClash(options.host, error)) return undefined
    throw new Error(
      `Could not create the lock container ${name} of ${describeLocked(locked)} from image ${options.image}: ${describe(error)}. Check that the Docker host can create containers and has that image.`,
    )
  }
}

// Who holds the lock now; undefined when it is gone (released in the meantime).
async function readHolder(host: DockerHost, name: string, locked: Locked): Promise<LockHolder | undefined> {
  let inspected: Awaited<ReturnType<DockerHost['inspect']>>
  try {
    inspected = await host.inspect(name)
  } catch (error) {
    if (isGone(error)) return undefined
    throw new Error(`Could not read the lock ${name} of ${describeLocked(locked)}: ${describe(error)}.`)
  }
  const labels = inspected.Config?.Labels ?? {}
  if (labels[labelOf(locked)] !== locked.name || labels[LABEL.role] !== 'lock')
    throw new Error(
      `A container named ${name} exists on the Docker host and is not the lock of ${describeLocked(locked)}${labels[LABEL.deployment] ? ` (it belongs to deployment '${labels[LABEL.deployment]}')` : ''}. Rename or remove it, or choose another ${locked.kind === 'deployment' ? 'instance-prefix' : 'ingress'}.`,
    )
  return holderFromLabels(inspected.Id, labels, inspected.Created)
}

// A lapse a label can ask for: at most this long (a label is anybody's to write).
const MAX_LAPSE_MS = 300_000

// Pure: the holder as the labels tell it. A lock without a readable time counts from the
// container's creation on the Docker host.
export function holderFromLabels(id: string, labels: Record<string, string>, createdOnHost: string): LockHolder {
  const labelled = new Date(labels[LABEL.created] ?? '')
  const lapse = Number(labels[LABEL.leaseLapse])
  return {
    id,
    operation: labels[LABEL.operation] || 'deploy',
    holder: labels[LABEL.holder] || 'an unknown run',
    since: Number.isNaN(labelled.getTime()) ? new Date(createdOnHost) : labelled,
    ...(labels[LABEL.holderProcess] ? { process: labels[LABEL.holderProcess] } : {}),
    ...(labels[LABEL.holderRun] ? { run: labels[LABEL.holderRun] } : {}),
    ...(labels[LABEL.leaseLapse] !== undefined ? { lapseMs: Number.isInteger(lapse) && lapse > 0 ? Math.min(lapse, MAX_LAPSE_MS) : MAX_LAPSE_MS } : {}),
  }
}

function withValue(label: string, value: string | undefined): Record<string, string> {
  return value ? { [label]: value } : {}
}

// By the ID this run took it with, never by name: a lock that was taken over in the meantime
// belongs to another run (the post step of a killed run releases it the same way). 'gone': it was
// no longer there, which only the caller can explain; a failure is warned about here.
export async function releaseLock(host: DockerHost, locked: Locked, id: string, log: LockLog): Promise<'released' | 'gone' | 'failed'> {
  const name = lockName(locked.name)
  try {
    const removed = await host.removeContainer(id)
    forgetLock(id)
    return removed ? 'released' : 'gone'
  } catch (error) {
    log.warning(
      `Could not release the lock ${name} of ${describeLocked(locked)}: ${describe(error)}. The next run takes it over once its lease has lapsed (${LEASE.lapseMs / 1000} s); remove it with 'docker rm -f ${name}' to go on sooner.`,
    )
    return 'failed'
  }
}

// The lock container is never started, so any image on the host will do; the preferred one (the
// HAProxy image) when it is there. Undefined on a host without any image.
export async function imageOnHost(host: DockerHost, preferred: string): Promise<string | undefined> {
  return (await host.imageId(preferred)) ? preferred : await host.anyImageId()
}
