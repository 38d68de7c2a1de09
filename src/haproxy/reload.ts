import type { DockerHost, ProcessList } from '../docker/deploy-host'
import { describe } from '../docker/engine'
import { sleep } from '../cancel'
import { CERTIFICATE_FILE, CONFIG_DIR, CONFIG_FILE, HTTP_KEEP_ALIVE_S, PREVIOUS_CERTIFICATE_FILE, PREVIOUS_CONFIG_FILE, STATS_CERTIFICATE_FILE } from './config'

// A running load-balancer changes its configuration in place: its own HAProxy checks the new one,
// the file is copied in, and a signal makes the master load it gracefully. Restoring the previous
// configuration (a failed, cancelled or killed deploy) is the same copy and signal.

// The same binary and version that will load the configuration checks it, as the user its master
// runs as (a VCH would run the check as root unless told), without name lookups (Podman's DNS can
// stall for seconds right after containers start; an unresolvable name is no error anyway).
// `text`: the configuration as renderConfigToCheck (or renderIngressConfigToCheck) gives it.
export async function checkInside(host: DockerHost, lb: string, lbName: string, user: string, text: string): Promise<void> {
  const candidate = 'haproxy-candidate.cfg'
  await host.putFile(lb, '/tmp', candidate, text)
  const { exitCode, output } = await host.exec(lb, ['haproxy', '-c', '-f', `/tmp/${candidate}`], user)
  if (exitCode !== 0)
    throw new Error(`HAProxy in ${lbName} rejected the new configuration (haproxy -c exit code ${exitCode}); the running one stays in use:\n${output.trim()}`)
}

// The official image runs HAProxy in master-worker mode: SIGUSR2 reloads it gracefully, and a
// configuration it cannot load leaves the previous worker serving.
export async function loadConfig(host: DockerHost, lb: string, text: string): Promise<void> {
  await host.putFile(lb, CONFIG_DIR, CONFIG_FILE, text)
  await host.signal(lb, 'SIGUSR2')
}

// After a reload the previous workers finish the requests they have, let go of their idle
// keep-alive clients and exit; until then they may send requests to instances that the new
// configuration no longer lists, so those are removed only once the workers listed before the
// reload have exited (hard-stop-after, which is drain-timeout, ends them at the latest). Where the
// host cannot list a container's processes (a VCH), a fixed time covers the keep-alive timeout
// instead: an old worker's idle client connection may carry one more request until then.
const FIXED_DRAIN_MS = (HTTP_KEEP_ALIVE_S + 1) * 1000
const DRAIN_POLL_MS = 100

// The PIDs of the load-balancer's HAProxy workers (its master's children), or undefined where the
// host has no process list (HostProfile.processListArgs).
export async function haproxyWorkers(host: DockerHost, lb: string, processListArgs: string | undefined): Promise<Set<string> | undefined> {
  if (!processListArgs) return undefined
  return workerPids(await host.processes(lb, processListArgs))
}

export async function drainOldWorkers(
  host: DockerHost,
  lb: string,
  processListArgs: string | undefined,
  oldWorkers: Set<string> | undefined,
  drainSeconds: number,
): Promise<void> {
  const started = Date.now()
  if (oldWorkers) {
    try {
      while (Date.now() - started < drainSeconds * 1000) {
        const running = await haproxyWorkers(host, lb, processListArgs)
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
export function workerPids(top: ProcessList): Set<string> {
  const column = (title: string): number => top.Titles?.indexOf(title) ?? -1
  const [pid, ppid, command] = [column('PID'), column('PPID'), column('COMMAND')]
  if (pid < 0 || ppid < 0 || command < 0) throw new Error(`the process list has no PID, PPID or COMMAND column (${top.Titles?.join(', ')})`)
  const haproxy = (top.Processes ?? []).filter((p) => p[command] === 'haproxy')
  const pids = new Set(haproxy.map((p) => p[pid]))
  return new Set(haproxy.filter((p) => pids.has(p[ppid])).map((p) => p[pid]))
}

// Kept inside the load-balancer (it holds the stats credentials, and the certificate's key), for
// the post step of a deploy that was killed before it could put them back itself. A load-balancer
// with a certificate always has one (turning HTTPS on or off replaces the container), so its
// current certificate is kept every time: no stale one from an earlier deploy is ever restored.
export async function keepPreviousConfig(host: DockerHost, lb: string, text: string, certificate: string | undefined): Promise<void> {
  if (certificate !== undefined) await putSecretFile(host, lb, PREVIOUS_CERTIFICATE_FILE, certificate)
  await host.putFile(lb, CONFIG_DIR, PREVIOUS_CONFIG_FILE, text)
}

// Whether there was a previous configuration to restore; its certificate goes back with it.
export async function restorePreviousConfig(host: DockerHost, lb: string): Promise<boolean> {
  const previous = await host.getFile(lb, `${CONFIG_DIR}/${PREVIOUS_CONFIG_FILE}`)
  if (previous === undefined) return false
  const certificate = await host.getFile(lb, `${CONFIG_DIR}/${PREVIOUS_CERTIFICATE_FILE}`)
  if (certificate !== undefined) await putSecretFile(host, lb, CERTIFICATE_FILE, certificate)
  await loadConfig(host, lb, previous)
  return true
}

// The certificate files a load-balancer holds, and how an error names each.
const CERTIFICATES = {
  service: { file: CERTIFICATE_FILE, what: 'lb-certificate' },
  stats: { file: STATS_CERTIFICATE_FILE, what: "the stats page's certificate" },
}

// Straight from memory into the container, never onto the runner's disk, and readable only by
// the user HAProxy's master runs as (it loads the certificate, also on every reload): whatever
// user the load-balancer container is made to run as.
export async function putCertificate(host: DockerHost, lb: string, which: keyof typeof CERTIFICATES, pem: string, lbName: string): Promise<void> {
  const { file, what } = CERTIFICATES[which]
  try {
    await putSecretFile(host, lb, file, pem)
  } catch (error) {
    throw new Error(`Could not put ${what} into ${CONFIG_DIR} of load-balancer ${lbName}: ${describe(error)}.`)
  }
}

async function putSecretFile(host: DockerHost, lb: string, name: string, content: string): Promise<void> {
  await host.putFile(lb, CONFIG_DIR, name, content, { mode: 0o400, owner: await host.processOwner(lb) })
}
