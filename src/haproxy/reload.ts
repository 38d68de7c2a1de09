import type Docker from 'dockerode'
import { getFile, processOwner, putFile } from '../docker/archive'
import { demultiplex } from '../docker/containers'
import { describe } from '../docker/engine'
import { CERTIFICATE_FILE, CONFIG_DIR, CONFIG_FILE, PREVIOUS_CONFIG_FILE, renderConfigToCheck, type LbConfig } from './config'

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
