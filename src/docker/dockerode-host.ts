import type Docker from 'dockerode'
import { LABEL } from '../labels'
import { getFile, getFiles, hasPath, processOwner, putFile } from './archive'
import { demultiplex, recentLogs, removeObjects } from './containers'
import type { ContainerSummary, DockerHost } from './deploy-host'
import { containerName } from './state'

// The DockerHost of a deploy, through dockerode.

// A container already in the state asked for (304) is what the caller wanted.
const notModified = (error: unknown): void => {
  if ((error as { statusCode?: number }).statusCode !== 304) throw error
}

export function dockerodeHost(docker: Docker): DockerHost {
  const container = (id: string): Docker.Container => docker.getContainer(id)
  // GET /containers/json in every state, as the steps name containers.
  const containers = async (filters: { label: string[]; status?: string[] }): Promise<ContainerSummary[]> =>
    (await docker.listContainers({ all: true, filters: JSON.stringify(filters) })).map((c) => ({
      id: c.Id,
      name: containerName(c),
      running: c.State === 'running',
      labels: c.Labels ?? {},
      created: new Date(c.Created * 1000),
    }))
  return {
    createNetwork: async (name, labels) => (await docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels })).id,
    createContainer: async (spec) => (await docker.createContainer(spec)).id,
    connect: async (network, id) => {
      await docker.getNetwork(network).connect({ Container: id })
    },
    start: (id) =>
      container(id)
        .start()
        .then(() => undefined, notModified),
    stop: (id, timeoutS) =>
      container(id)
        .stop({ t: timeoutS })
        .then(() => undefined, notModified),
    rename: async (id, name) => {
      await container(id).rename({ name })
    },
    inspect: (id) => container(id).inspect(),
    listContainers: (labels) => containers({ label: labels }),
    listNetworks: async (labels) =>
      (await docker.listNetworks({ filters: JSON.stringify({ label: labels }) })).map((n) => ({
        id: n.Id,
        name: n.Name,
        labels: n.Labels ?? {},
        created: new Date(n.Created),
      })),
    listVolumes: async (labels) =>
      ((await docker.listVolumes({ filters: JSON.stringify({ label: labels }) })).Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} })),
    createVolume: async (name, driver, options, labels) =>
      (await docker.createVolume({ Name: name, Driver: driver, DriverOpts: options, Labels: labels })).name,
    volumeStores: async () => {
      const { SystemStatus } = (await docker.info()) as { SystemStatus?: [string, string][] | null }
      const stores = SystemStatus?.find(([key]) => key === 'VolumeStores')?.[1]
      return stores === undefined ? undefined : stores.split(' ').filter(Boolean)
    },
    labelsOf: async (kind, name) => {
      try {
        if (kind === 'container') return (await container(name).inspect()).Config.Labels ?? {}
        return ((await docker.getNetwork(name).inspect()) as { Labels?: Record<string, string> }).Labels ?? {}
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return undefined
        throw error
      }
    },
    cpuCount: async () => (await docker.info()).NCPU,
    listStopped: async (deployment, statuses) =>
      (await containers({ label: [`${LABEL.deployment}=${deployment}`], status: statuses })).map(({ id, name }) => ({ id, name })),
    recentLogs: (id, lines) => recentLogs(container(id), lines),
    // No condition: a VCH speaks API 1.25, older than the parameter (1.30); its default is not-running.
    wait: async (id, signal) => ((await container(id).wait({ abortSignal: signal })) as { StatusCode: number }).StatusCode,
    remove: (containers, networks, volumes) => removeObjects(docker, containers, networks, volumes),
    getFile: (id, path) => getFile(container(id), path),
    getFiles: (id, dir) => getFiles(container(id), dir),
    putFile: (id, dir, name, content, options) => putFile(container(id), dir, name, content, options),
    hasPath: (id, path) => hasPath(container(id), path),
    processOwner: (id) => processOwner(container(id)),
    exec: async (id, cmd, user) => {
      const exec = await container(id).exec({ Cmd: cmd, User: user, AttachStdout: true, AttachStderr: true })
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
      return { exitCode: ExitCode, output }
    },
    signal: async (id, signal) => {
      await container(id).kill({ signal })
    },
    processes: (id, psArgs) => container(id).top({ ps_args: psArgs }),
    removeContainer: (id) =>
      container(id)
        .remove({ force: true })
        .then(
          () => true,
          (error: unknown) => {
            if ((error as { statusCode?: number }).statusCode === 404) return false
            throw error
          },
        ),
    imageId: async (reference) => {
      try {
        return (await docker.getImage(reference).inspect()).Id
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return undefined
        throw error
      }
    },
    anyImageId: async () => (await docker.listImages())[0]?.Id,
    pull: (reference, registryAuth, onStatus, signal) => followPull(docker, reference, registryAuth, onStatus, signal),
  }
}

// Registries report refusals INSIDE a 200 progress stream, so every event is checked, not only the
// HTTP status. A cancelled run closes the pull's connection, which stops the pull on the host too.
async function followPull(
  docker: Docker,
  reference: string,
  registryAuth: string | undefined,
  onStatus: (status: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const options = registryAuth ? { authconfig: { base64: registryAuth } } : {}
  signal?.throwIfAborted()
  const stream = (await docker.pull(reference, { ...options, abortSignal: signal })) as NodeJS.ReadableStream & { destroy(): void }
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      stream.destroy()
      reject(signal!.reason)
    }
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error ? reject(error) : resolve()),
      (event: { status?: string; id?: string; error?: string; errorDetail?: { message?: string } }) => {
        if (event.error || event.errorDetail) {
          stream.destroy()
          reject(new Error(event.errorDetail?.message ?? event.error))
        } else if (event.status && !event.status.startsWith('Downloading') && !event.status.startsWith('Extracting')) {
          onStatus(`${event.id ? `${event.id}: ` : ''}${event.status}`)
        }
      },
    )
  })
}
