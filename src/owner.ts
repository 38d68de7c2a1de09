import type { DockerHost } from './docker/deploy-host'
import { listDeployment, type DeploymentObjects } from './docker/state'
import { LABEL } from './labels'

// A deployment name (instance-prefix) is unique on a Docker host, but two repositories deploying
// to one host may both choose `pr-42`. Every object records who deployed it (LABEL.owner), and a
// deploy or teardown of a deployment that another owner's objects carry is refused before
// anything on the host changes; prune considers only the caller's deployments.

// 'ours': every labelled object is the caller's; 'unowned': objects exist but none has an owner
// label (an earlier version made them); 'foreign': another owner's label is on one of them.
export type Ownership = { kind: 'none' } | { kind: 'ours' } | { kind: 'unowned' } | { kind: 'foreign'; owner: string }

// GitHub compares repository names case-insensitively; GITHUB_REPOSITORY spells them as the
// repository does today, `--owner` as a person typed it.
export function sameOwner(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}

// Pure: from the owner labels of a deployment's objects, '' for an object without one.
export function ownershipOf(owners: string[], owner: string): Ownership {
  if (owners.length === 0) return { kind: 'none' }
  const labelled = owners.filter(Boolean)
  const other = labelled.find((o) => !sameOwner(o, owner))
  if (other !== undefined) return { kind: 'foreign', owner: other }
  return labelled.length > 0 ? { kind: 'ours' } : { kind: 'unowned' }
}

// The owner labels of the deployment's containers, networks and volumes. A lock counts only when another
// owner holds it (its first deploy may be under way with nothing else created yet): under the
// lock, the caller's own lock says nothing about whose the deployment is.
function ownersIn({ containers, networks, volumes }: DeploymentObjects, owner: string): string[] {
  return [...containers, ...networks, ...volumes]
    .filter((o) => o.labels[LABEL.role] !== 'lock' || !sameOwner(o.labels[LABEL.owner] ?? '', owner))
    .map((o) => o.labels[LABEL.owner] ?? '')
}

// What each operation says it did not do, and what to do instead, for `name`, the repository
// part of the caller's owner.
const REFUSAL = {
  deploy: (deployment: string, owner: string, name: string) =>
    `Nothing was changed. Two repositories cannot share a deployment name: choose an instance-prefix and lb-name for ${owner} that include its repository name, e.g. '${name}-${deployment}' and '${name}-${deployment}-lb'.`,
  teardown: (deployment: string, owner: string, name: string) =>
    `Nothing was removed. Give the instance-prefix ${owner} deployed under (e.g. '${name}-${deployment}'), or tear '${deployment}' down from its own repository.`,
}

// Reads only: called before the lock (so a refused run waits for nobody) and again under it (a
// run of another owner may have created the deployment meanwhile). Throws when it is another
// owner's; otherwise says whether it is new, the caller's, or from before owner labels.
export async function checkOwner(host: DockerHost, deployment: string, owner: string, operation: keyof typeof REFUSAL): Promise<Ownership> {
  return checkOwnershipOf(await listDeployment(host, deployment), deployment, owner, operation)
}

// The same for objects already listed.
export function checkOwnershipOf(objects: DeploymentObjects, deployment: string, owner: string, operation: keyof typeof REFUSAL): Ownership {
  const ownership = ownershipOf(ownersIn(objects, owner), owner)
  if (ownership.kind !== 'foreign') return ownership
  throw new Error(
    `Deployment '${deployment}' on the Docker host belongs to ${ownership.owner}, and this ${operation} is for ${owner}. ` +
      `${REFUSAL[operation](deployment, owner, owner.split('/').pop()!)} ` +
      `If ${owner} is ${ownership.owner} renamed or transferred, set the input owner to '${ownership.owner}'.`,
  )
}
