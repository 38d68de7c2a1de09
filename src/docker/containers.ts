import type Docker from 'dockerode'
import pLimit from 'p-limit'
import { describe } from './engine'

// Container and network removal shared by a failed deploy's clean-up, scaling down and teardown,
// plus the small container operations the orchestration needs.

// Bounds how many API calls of one kind run at once (see steps/start.ts for container starts).
export function limited<T, R>(items: T[], task: (item: T) => Promise<R>, concurrency = 8): Promise<R[]> {
  const limit = pLimit(concurrency)
  return Promise.all(items.map((item) => limit(() => task(item))))
}

// Containers first: a network or volume cannot be removed while containers use it. Returns the
// objects that could not be removed, with why, so callers decide how loud to be.
export async function removeObjects(docker: Docker, containerIds: string[], networkIds: string[], volumes: string[] = []): Promise<string[]> {
  const failures: string[] = []
  const attempt = async (what: string, remove: () => Promise<unknown>): Promise<void> => {
    try {
      await remove()
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) failures.push(`${what}: ${describe(error)}`)
    }
  }
  await limited(containerIds, (id) => attempt(`container ${id.slice(0, 12)}`, () => removeContainer(docker.getContainer(id))))
  await limited(networkIds, (id) => attempt(`network ${id.slice(0, 12)}`, () => removeNetwork(docker.getNetwork(id))))
  await limited(volumes, (name) => attempt(`volume ${name}`, () => docker.getVolume(name).remove()))
  return failures
}

// Podman (4.3) refuses to force-remove a container that its restart policy is restarting at that
// moment ("container state improper"): try again briefly.
function removeContainer(container: Docker.Container): Promise<unknown> {
  return retried(() => container.remove({ force: true }), /container state improper/i, 250)
}

// Right after its containers are force-removed, dockerd (20.10, moby#42119) can still count their
// endpoints for a moment and refuse to remove the network: try again briefly.
function removeNetwork(network: Docker.Network): Promise<unknown> {
  return retried(() => network.remove(), /active endpoints/i, 500)
}

async function retried<T>(call: () => Promise<T>, transient: RegExp, delayMs: number, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call()
    } catch (error) {
      if (attempt >= attempts || !transient.test(describe(error))) throw error
      await new Promise((resolve) => setTimeout(resolve, delayMs * attempt))
    }
  }
}

// The last lines a container wrote, stdout and stderr together.
export async function recentLogs(container: Docker.Container, lines = 50): Promise<string> {
  const raw = (await container.logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer
  return demultiplex(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)))
}

// Without a TTY the API frames log output: 1 byte stream type, 3 zero bytes, 4 bytes length.
export function demultiplex(raw: Buffer): string {
  if (raw.length < 8 || raw[0] > 2 || raw[1] !== 0 || raw[2] !== 0 || raw[3] !== 0) return raw.toString('utf8')
  const parts: Buffer[] = []
  for (let offset = 0; offset + 8 <= raw.length;) {
    const size = raw.readUInt32BE(offset + 4)
    parts.push(raw.subarray(offset + 8, offset + 8 + size))
    offset += 8 + size
  }
  return Buffer.concat(parts).toString('utf8')
}
