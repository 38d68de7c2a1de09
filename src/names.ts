// The names of the objects a deployment owns on the Docker host, derived from its instance-prefix.
// A leaf module: inputs, planning and the lock all need them.

export function networkName(deployment: string): string {
  return `${deployment}-net`
}

export function instanceName(deployment: string, generation: string, index: number): string {
  return `${deployment}-${generation}-${index}`
}

// The deployment's lock container (lock.ts).
export function lockName(deployment: string): string {
  return `${deployment}-lock`
}

// The one-off container that runs the release command of a generation (src/release).
export function releaseName(deployment: string, generation: string): string {
  return `${deployment}-release-${generation}`
}
