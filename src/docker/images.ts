import type { DockerHost } from './deploy-host'
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
  // HostProfile.localImageNamespace.
  localImageNamespace?: string
}

// The image's ID on the host, pulled first as the policy says. With 'missing' and 'never' an image
// the host has is taken as it is: no registry is asked. Nor is one for an image the host built or
// loaded itself (HostProfile.localImageNamespace).
export async function obtainImage(
  host: DockerHost,
  reference: string,
  { policy, auth, signal, localImageNamespace }: PullOptions,
  log: (line: string) => void,
): Promise<PulledImage> {
  const local = localImageNamespace && !namesRegistry(reference) ? await host.imageId(`${localImageNamespace}${reference}`).catch(() => undefined) : undefined
  if (local) {
    log(`${reference}: the host's own image ${localImageNamespace}${reference}, from no registry: not pulled`)
    return { reference, id: local }
  }
  if (policy !== 'always') {
    const id = await host.imageId(reference).catch(() => undefined)
    if (id) return { reference, id }
    if (policy === 'never')
      throw new Error(
        `Image ${reference} is not on the Docker host, and pull is 'never'. Put it there first (docker pull or docker load against that host), or set pull to 'missing'.`,
      )
  }
  return pullImage(host, reference, auth, log, signal)
}

// Whether a reference starts with a registry: a first path component with a dot or a port, or
// localhost, as Docker reads it.
function namesRegistry(reference: string): boolean {
  const [first, ...rest] = reference.split('/')
  return rest.length > 0 && (/[.:]/.test(first) || first === 'localhost')
}

// Pull an image and return its ID. An image already on the host is good enough when the pull fails
// (an offline host, a registry outage), with a warning.
async function pullImage(
  host: DockerHost,
  reference: string,
  auth: RegistryAuth | undefined,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<PulledImage> {
  let pullError: string | undefined
  try {
    await host.pull(reference, auth?.header, (status) => log(`${reference}: ${status}`), signal)
  } catch (error) {
    if (signal?.aborted) throw signal.reason
    pullError = describe(error)
  }
  const id = await host.imageId(reference).catch(() => undefined)
  if (id && !pullError) return { reference, id }
  if (id) return { reference, id, warning: `Could not pull ${reference} (${pullError}); using the copy already on the Docker host.` }
  throw new Error(
    `Could not pull image ${reference}: ${pullError}. Check the image name and tag, that the Docker host can reach its registry, and registry-username/registry-password for a private image.`,
  )
}
