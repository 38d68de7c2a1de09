import type Docker from 'dockerode'
import { getFile, processOwner, putFile } from '../docker/archive'
import { demultiplex } from '../docker/containers'
import { describe } from '../docker/engine'
import { sleep } from '../cancel'
import { CERTIFICATE_FILE, CONFIG_DIR, CONFIG_FILE, HARD_STOP_AFTER_S, PREVIOUS_CONFIG_FILE, renderConfigToCheck, type LbConfig } from './config'

// A running load-balancer changes its configuration in place: its own HAProxy checks the new one,
// the file is copied in, and a signal makes the master load it gracefully. Restoring the previous
// configuration (a failed, cancelled or killed deploy) is the same copy and signal.

// The same binary and version that will load the configuration checks it, as the user its master
// runs as (a VCH would run the check as root unless told), without name lookups (Podman's DNS can
// stall for seconds right after containers start; an unresolvable name is no error anyway).
export async function checkInside(lb: Docker.Container, lbName: string, user: string, config: LbConfig): Promise<void> {
  const candidate = 'haproxy-candidate.cfg'
  await putFile(lb, '/tmp', candidate, renderConfigToCheck(config))
  const exec = await lb.exec({ Cmd: ['haproxy', '-c', '-f', `/tmp/${candidate}`], User: user, AttachStdout: true, AttachStderr: true })
  const output = await new Promise<string>((resolve, reject) => {
    exec.start({ hijack: true, stdin: false }, (error, stream) => {
      if (error || !stream) return reject(error ?? new Error('no output stream'))
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => resolve(demultiplex(Buffer.concat(chunks))))
      stream.on('error', reject)
    })
  })
  const { ExitCode } = await exec.inspect()
  if (ExitCode !== 0)
    throw new Error(`HAProxy in ${lbName} rejected the new configuration (haproxy -c exit code ${ExitCode}); the running one stays in use:\n${output.trim()}`)
}

// The official image runs HAProxy in master-worker mode: SIGUSR2 reloads it gracefully, and a
// configuration it cannot load leaves the previous worker serving.
export async function loadConfig(lb: Docker.Container, text: string): Promise<void> {
  await putFile(lb, CONFIG_DIR, CONFIG_FILE, text)
  await lb.kill({ signal: 'SIGUSR2' })
}

// After a reload the previous workers finish the requests they have, let go of their idle
// keep-alive clients and exit; until then they may send requests to instances that the new
// configuration no longer lists, so those are removed only once the workers listed before the
// reload have exited (hard-stop-after ends them at the latest). Where the host cannot list a
// container's processes (a VCH), a fixed time covers the keep-alive timeout instead.
const FIXED_DRAIN_MS = 3_000
const DRAIN_POLL_MS = 100

// The PIDs of the load-balancer's HAProxy workers (its master's children), or undefined where the
// host has no process list (HostProfile.processListArgs).
export async function haproxyWorkers(lb: Docker.Container, processListArgs: string | undefined): Promise<Set<string> | undefined> {
  if (!processListArgs) return undefined
  return workerPids(await lb.top({ ps_args: processListArgs }))
}

export async function drainOldWorkers(lb: Docker.Container, processListArgs: string | undefined, oldWorkers: Set<string> | undefined): Promise<void> {
  const started = Date.now()
  if (oldWorkers) {
    try {
      while (Date.now() - started < HARD_STOP_AFTER_S * 1000) {
        const running = await haproxyWorkers(lb, processListArgs)
        if (![...oldWorkers].some((pid) => running?.has(pid))) return
        await sleep(DRAIN_POLL_MS)
      }
      return
    } catch {
      // The list stopped answering: wait out what is left of the fixed time.
    }
  }
  await sleep(Math.max(0, FIXED_DRAIN_MS - (Date.now() - started)))
}

// GET /containers/{id}/top with PID, PPID and COMMAND columns. A process whose parent is an HAProxy
// process is a worker (the master is the one whose parent is not, whatever runs as PID 1).
export function workerPids(top: { Titles?: string[]; Processes?: string[][] }): Set<string> {
  const column = (title: string): number => top.Titles?.indexOf(title) ?? -1
  const [pid, ppid, command] = [column('PID'), column('PPID'), column('COMMAND')]
  if (pid < 0 || ppid < 0 || command < 0) throw new Error(`the process list has no PID, PPID or COMMAND column (${top.Titles?.join(', ')})`)
  const haproxy = (top.Processes ?? []).filter((p) => p[command] === 'haproxy')
  const pids = new Set(haproxy.map((p) => p[pid]))
  return new Set(haproxy.filter((p) => pids.has(p[ppid])).map((p) => p[pid]))
}

// Kept inside the load-balancer (it holds the stats credentials), for the post step of a deploy
// that was killed before it could put the configuration back itself.
export async function keepPreviousConfig(lb: Docker.Container, text: string): Promise<void> {
  await putFile(lb, CONFIG_DIR, PREVIOUS_CONFIG_FILE, text)
}

// Whether there was a previous configuration to restore.
export async function restorePreviousConfig(lb: Docker.Container): Promise<boolean> {
  const previous = await getFile(lb, `${CONFIG_DIR}/${PREVIOUS_CONFIG_FILE}`)
  if (previous === undefined) return false
  await loadConfig(lb, previous)
  return true
}

// Straight from memory into the container, never onto the runner's disk, and readable only by
// the user HAProxy's master runs as (it loads the certificate, also on every reload): whatever
// user the load-balancer container is made to run as.
export async function putCertificate(lb: Docker.Container, pem: string, lbName: string): Promise<void> {
  try {
    await putFile(lb, CONFIG_DIR, CERTIFICATE_FILE, pem, { mode: 0o400, owner: await processOwner(lb) })
  } catch (error) {
    throw new Error(`Could not put lb-certificate into ${CONFIG_DIR} of load-balancer ${lbName}: ${describe(error)}.`)
  }
}
