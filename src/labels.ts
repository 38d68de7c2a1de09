import { randomBytes } from 'node:crypto'
import { currentPullRequest, formatPullRequest } from './github/event'

// Labels mark every object the action creates, so re-runs, scaling and teardown find exactly
// this deployment's objects and never anybody else's. Labels work on a VCH as on dockerd.

const NAMESPACE = 'io.github.vic-lb-action'

export const LABEL = {
  // The deployment an object belongs to: its instance-prefix.
  deployment: `${NAMESPACE}.deployment`,
  // Who deployed it: the repository (`owner/repo`) or a local name (owner.ts). Objects made before
  // this label existed have none.
  owner: `${NAMESPACE}.owner`,
  role: `${NAMESPACE}.role`,
  // Instances: what they run, as a short hash (see plan.ts); and their place in the generation.
  generation: `${NAMESPACE}.generation`,
  index: `${NAMESPACE}.index`,
  port: `${NAMESPACE}.port`,
  // Load-balancer: the settings that need a new container when they change.
  lbSpec: `${NAMESPACE}.lb-spec`,
  // Companion services and their volumes: the service's name (services input), and what its
  // container runs as a short hash (services/plan.ts).
  service: `${NAMESPACE}.service`,
  serviceSpec: `${NAMESPACE}.service-spec`,
  // A service's volume: the path inside the container it is mounted at.
  volumePath: `${NAMESPACE}.volume-path`,
  created: `${NAMESPACE}.created`,
  // A shared ingress (src/ingress): its name on the ingress itself, its network and each route
  // record; and the host name a route record serves.
  ingress: `${NAMESPACE}.ingress`,
  hostname: `${NAMESPACE}.hostname`,
  // The settings a shared ingress was made with (ingress/ensure.ts IngressSpec), as JSON.
  ingressSpec: `${NAMESPACE}.ingress-spec`,
  // The pull request the deployment previews, `owner/repo#42`: prune removes it once closed.
  pullRequest: `${NAMESPACE}.pr`,
  // Lock: who holds it (a workflow run, or host and process) and for what (deploy, teardown, prune).
  holder: `${NAMESPACE}.holder`,
  operation: `${NAMESPACE}.operation`,
  // Lock: the holder's process, so that a lock whose process is provably gone is taken over (lock.ts).
  holderProcess: `${NAMESPACE}.holder-process`,
  // ...and its workflow run, which GitHub can say has completed (github/runs.ts).
  holderRun: `${NAMESPACE}.holder-run`,
  // Lock: how long (ms) its lease may go unrenewed before a waiting run takes it over (lock.ts).
  leaseLapse: `${NAMESPACE}.lease-lapse-ms`,
  // The run that created the object: what the post step of a killed run removes (post.ts).
  run: `${NAMESPACE}.run`,
} as const

// Names this process's run in the labels of what it creates.
export const THIS_RUN = randomBytes(8).toString('hex')

// The owner outside a workflow run when no --owner is given.
export const LOCAL_OWNER = 'local'

let runOwner = LOCAL_OWNER

// The owner of everything this process creates, set once from the inputs (main.ts) like THIS_RUN:
// every object, the lock included, records it without the callers passing it along.
export function useOwner(owner: string): void {
  runOwner = owner
}

// release: the one-off container of the release command (src/release), removed once it has run.
// ingress: a shared ingress (src/ingress); route: a routed deployment's record of its route there.
export type Role = 'instance' | 'lb' | 'network' | 'lock' | 'release' | 'service' | 'volume' | 'ingress' | 'route'

// The pull request comes from the event of the run, so every object a pull request's run
// creates carries it without the callers passing it along.
export function deploymentLabels(deployment: string, role: Role, extra: Record<string, string> = {}): Record<string, string> {
  return labelsFor(LABEL.deployment, deployment, role, extra)
}

// A shared ingress's own objects (src/ingress) belong to no deployment: named by the ingress label.
export function ingressLabels(ingress: string, role: Role, extra: Record<string, string> = {}): Record<string, string> {
  return labelsFor(LABEL.ingress, ingress, role, extra)
}

function labelsFor(key: string, name: string, role: Role, extra: Record<string, string>): Record<string, string> {
  const pullRequest = currentPullRequest()
  return {
    [key]: name,
    [LABEL.owner]: runOwner,
    [LABEL.role]: role,
    [LABEL.created]: new Date().toISOString(),
    [LABEL.run]: THIS_RUN,
    ...(pullRequest ? { [LABEL.pullRequest]: formatPullRequest(pullRequest) } : {}),
    ...extra,
  }
}
