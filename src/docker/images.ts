import type Docker from 'dockerode'
import type { PullPolicy, RegistryAuth } from '../inputs'
import { describe } from './engine'

export interface PulledImage {
  reference: string
  id: string
  // Set when the registry could not be used and the copy already on the host was taken instead.
  warning?: string
}

export interface PullOptions {
  policy: PullPolicy
  auth?: RegistryAuth
  signal?: AbortSignal
}

// The image's ID on the host, pulled first as the policy says. With 'missing' and 'never' an image
// the host has is taken as it is: no registry is asked.
export async function obtainImage(docker: Docker, reference: string, { policy, auth, signal }: PullOptions, log: (line: string) => void): Promise<PulledImage> {
  if (policy !== 'always') {
    const id = await imageId(docker, reference)
    if (id) return { reference, id }
    if (policy === 'never')
      throw new Error(
        `Image ${reference} is not on the Docker host, and pull is 'never'. Put it there first (docker pull or docker load against that host), or set pull to 'missing'.`,
      )
  }
  return pullImage(docker, reference, auth, log, signal)
}

// Pull an image and return its ID. Registries report refusals INSIDE a 200 progress stream, so
// every event is checked, not only the HTTP status. An image already on the host is good enough
// when the pull fails (an offline host, a registry outage), with a warning.
async function pullImage(
  docker: Docker,
  reference: string,
  auth: RegistryAuth | undefined,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<PulledImage> {
  let pullError: string | undefined
  try {
    await followPull(docker, reference, auth, log, signal)
  } catch (error) {
    if (signal?.aborted) throw signal.reason
    pullError = describe(error)
  }
  const id = await imageId(docker, reference)
  if (id && !pullError) return { reference, id }
  if (id) return { reference, id, warning: `Could not pull ${reference} (${pullError}); using the copy already on the Docker host.` }
  throw new Error(
    `Could not pull image ${reference}: ${pullError}. Check the image name and tag, that the Docker host can reach its registry, and registry-username/registry-password for a private image.`,
  )
}

// A cancelled run closes the pull's connection, which stops the pull on the Docker host too.
async function followPull(docker: Docker, reference: string, auth: RegistryAuth | undefined, log: (line: string) => void, signal?: AbortSignal): Promise<void> {
  const options = auth ? { authconfig: { base64: auth.header } } : {}
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
          log(`${reference}: ${event.id ? `${event.id}: ` : ''}${event.status}`)
        }
      },
    )
  })
}

async function imageId(docker: Docker, reference: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(reference).inspect()).Id
  } catch {
    return undefined
  }
}
