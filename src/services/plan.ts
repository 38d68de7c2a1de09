import type { Server } from '../haproxy/config'
import type { DeploymentState, ServiceObject } from '../docker/state'
import type { ServiceSpec } from '../inputs'
import { serviceContainerName, serviceVolumeName } from '../names'
import { shortHash } from '../plan'

// Pure planning of the companion services: each listed service is kept (same spec, running),
// created, or replaced; containers of services no longer listed, and volumes no service mounts
// any more, go once traffic has moved. A service's data lives in its volume, which a replacement
// mounts again unless the volume's path changed.

export interface ServiceToStart {
  spec: ServiceSpec
  name: string
  // The spec hash its container is labelled with.
  hash: string
  volume?: { name: string; path: string; create: boolean }
  // The container it replaces: stopped and put aside until traffic has moved (steps/services.ts).
  replaces?: ServiceObject
}

export interface ServicesPlan {
  keep: ServiceObject[]
  start: ServiceToStart[]
  // Stopped containers of listed services: they serve nothing and their names are needed again.
  removeFirst: ServiceObject[]
  // Once traffic has moved: containers of services no longer listed (or left aside by an
  // interrupted run), and volumes that no listed service mounts.
  removeAfter: ServiceObject[]
  removeVolumesAfter: string[]
  // The services the load-balancer health-checks (those with a port), by name.
  checked: Server[]
}

// What a service's container runs, but the secret-env values: the hash is stored in a label. The
// image by ID, so that a new image under the same tag replaces the service.
export function serviceSpecHash(spec: ServiceSpec, imageId: string): string {
  const { env, secretEnv, command, port, volume, memoryBytes, cpus } = spec
  return shortHash([imageId, { env, secretKeys: secretEnv.map((v) => v.key), command, port, volume, memoryBytes, cpus }])
}

export function volumeOf(deployment: string, spec: ServiceSpec): { name: string; path: string } | undefined {
  return spec.volume === undefined ? undefined : { name: serviceVolumeName(deployment, spec.name, shortHash([spec.volume])), path: spec.volume }
}

// hashes: each listed service's serviceSpecHash; holdingSecrets: the services whose running
// container holds their secret-env values (asked of the host in memory, see steps/services.ts).
export function planServices(
  deployment: string,
  services: ServiceSpec[],
  hashes: Map<string, string>,
  holdingSecrets: Set<string>,
  state: Pick<DeploymentState, 'services' | 'volumes'>,
): ServicesPlan {
  const plan: ServicesPlan = { keep: [], start: [], removeFirst: [], removeAfter: [], removeVolumesAfter: [], checked: [] }
  const volumes = new Set(state.volumes.map((v) => v.name))
  const wantedVolumes = new Set<string>()
  const wantedNames = new Set<string>()
  for (const spec of services) {
    const name = serviceContainerName(deployment, spec.name)
    const hash = hashes.get(spec.name)!
    wantedNames.add(name)
    if (spec.port !== undefined) plan.checked.push({ name: spec.name, port: spec.port })
    const volume = volumeOf(deployment, spec)
    if (volume) wantedVolumes.add(volume.name)
    const current = state.services.find((s) => s.name === name)
    const secretsHeld = spec.secretEnv.length === 0 || holdingSecrets.has(spec.name)
    if (current?.running && current.spec === hash && secretsHeld) {
      plan.keep.push(current)
      continue
    }
    if (current && !current.running) plan.removeFirst.push(current)
    plan.start.push({
      spec,
      name,
      hash,
      volume: volume && { ...volume, create: !volumes.has(volume.name) },
      replaces: current?.running ? current : undefined,
    })
  }
  plan.removeAfter = state.services.filter((s) => !wantedNames.has(s.name))
  plan.removeVolumesAfter = [...volumes].filter((v) => !wantedVolumes.has(v))
  return plan
}

// Whether the services' phase has anything to do before the instances start (deploy.ts).
export function servicesToStart(plan: ServicesPlan): boolean {
  return plan.start.length + plan.removeFirst.length > 0
}

export function describeServices(plan: ServicesPlan): string {
  const replaced = plan.start.filter((s) => s.replaces).length
  return [
    `Services: ${plan.keep.length} kept, ${plan.start.length - replaced} to start, ${replaced} to replace`,
    plan.removeAfter.length > 0 ? `, ${plan.removeAfter.length} to remove` : '',
    plan.removeVolumesAfter.length > 0 ? `; ${plan.removeVolumesAfter.length} volume(s) to remove` : '',
    '.',
  ].join('')
}

// How errors name a service's memory field.
export function serviceMemoryInput(service: string): string {
  return `memory of service '${service}'`
}
