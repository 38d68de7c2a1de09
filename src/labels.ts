// Labels mark every object the action creates, so re-runs, scaling and teardown find exactly
// this deployment's objects and never anybody else's. Labels work on a VCH as on dockerd.

const NAMESPACE = 'io.github.vic-lb-action'

export const LABEL = {
  // The deployment an object belongs to: its instance-prefix.
  deployment: `${NAMESPACE}.deployment`,
  role: `${NAMESPACE}.role`,
  // Instances: what they run, as a short hash (see plan.ts); and their place in the generation.
  generation: `${NAMESPACE}.generation`,
  index: `${NAMESPACE}.index`,
  port: `${NAMESPACE}.port`,
  // Load-balancer: the settings that need a new container when they change.
  lbSpec: `${NAMESPACE}.lb-spec`,
  created: `${NAMESPACE}.created`,
} as const

export type Role = 'instance' | 'lb' | 'network'

export function deploymentLabels(deployment: string, role: Role, extra: Record<string, string> = {}): Record<string, string> {
  return { [LABEL.deployment]: deployment, [LABEL.role]: role, [LABEL.created]: new Date().toISOString(), ...extra }
}

// The filter that lists one deployment's objects (containers or networks) from the Docker API.
export function deploymentFilter(deployment: string): string {
  return JSON.stringify({ label: [`${LABEL.deployment}=${deployment}`] })
}
