// The names of the objects a deployment owns on the Docker host, derived from its instance-prefix.
// A leaf module: inputs, planning and the lock all need them.

export function networkName(deployment: string): string {
  return `${deployment}-net`
}

export function instanceName(deployment: string, generation: string, index: number): string {
  return `${deployment}-${generation}-${index}`
}

// The lock container (lock.ts) of a deployment, or of a shared ingress's routes.
export function lockName(locked: string): string {
  return `${locked}-lock`
}

// What a lock keeps to one run at a time: a deployment, or the routes of a shared ingress (whose
// lock is held only while one route changes, inside the deployment's own).
export interface Locked {
  kind: 'deployment' | 'ingress'
  name: string
}

export function describeLocked({ kind, name }: Locked): string {
  return `${kind} '${name}'`
}

// The record of a routed deployment's route on a shared ingress (src/ingress/record.ts).
export function routeName(deployment: string): string {
  return `${deployment}-route`
}

// The one-off container that runs the release command of a generation (src/release).
export function releaseName(deployment: string, generation: string): string {
  return `${deployment}-release-${generation}`
}

// A companion service's container. Instances are `<deployment>-<hex generation>-<n>`, so `svc`
// never names a generation; the instances reach the service by its own name (a network alias).
export function serviceContainerName(deployment: string, service: string): string {
  return `${deployment}-svc-${service}`
}

// A replaced service's container until traffic has moved (old), and its replacement until the old
// one has stopped (next): a service name is a DNS label, which has no dot, so no other service's
// container can have these names.
export function besideName(name: string, which: 'old' | 'next'): string {
  return `${name}.${which}`
}

// A service's volume, one per path: a new path gets a new volume while the old one stays for the undo.
export function serviceVolumeName(deployment: string, service: string, pathHash: string): string {
  return `${deployment}-svc-${service}-${pathHash}`
}
