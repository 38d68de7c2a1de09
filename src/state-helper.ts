import * as core from '@actions/core'
import type { GitHubEnvironment } from './github/api'
import type { IngressRoute } from './ingress/config'
import type { Locked } from './names'

// What the post step (post.ts) needs from the main step, kept with core.saveState: the runner
// hands it to the post step as STATE_<name> variables, the last value of each name. The main step
// writes a value when it takes something on and empties it once that is settled, so a main step
// that was killed leaves exactly what is still to be settled.

const LOCKS = 'locks'
const DEPLOY = 'deploy'
const GITHUB_DEPLOYMENT = 'github-deployment'

// A lock the main step holds, with its container's ID.
export interface HeldLock extends Locked {
  id: string
}

// A deploy that has started changing the Docker host and has not switched traffic yet.
export interface UnsettledDeploy {
  deployment: string
  lbName: string
  // The run label of everything it created (labels.ts).
  run: string
  // A kept load-balancer whose configuration it changed; the previous one is saved inside it.
  configChangedOn?: string
  // A shared ingress on which it changed the deployment's route, with the route before (none on the
  // deployment's first): put back, and the ingress reloaded, before this run's instances go.
  routeChangedOn?: { ingress: string; previous?: IngressRoute }
  // A load-balancer it stopped to replace, by ID, with the name it served under.
  replacedLb?: { id: string; name: string }
  // Companion services' containers it stopped to replace them, likewise.
  replacedServices?: { id: string; name: string }[]
}

// A GitHub deployment set in progress whose outcome GitHub has not been told yet.
export interface PendingGitHubDeployment extends GitHubEnvironment {
  id: number
}

const held = new Map<string, HeldLock>()

export function rememberLock(lock: HeldLock): void {
  held.set(lock.id, lock)
  core.saveState(LOCKS, JSON.stringify([...held.values()]))
}

export function forgetLock(id: string): void {
  held.delete(id)
  core.saveState(LOCKS, JSON.stringify([...held.values()]))
}

export function rememberDeploy(deploy: UnsettledDeploy | undefined): void {
  core.saveState(DEPLOY, deploy ? JSON.stringify(deploy) : '')
}

export function rememberGitHubDeployment(pending: PendingGitHubDeployment | undefined): void {
  core.saveState(GITHUB_DEPLOYMENT, pending ? JSON.stringify(pending) : '')
}

export function leftGitHubDeployment(): PendingGitHubDeployment | undefined {
  return parse<PendingGitHubDeployment>(GITHUB_DEPLOYMENT)
}

export function leftLocks(): HeldLock[] {
  return parse<HeldLock[]>(LOCKS) ?? []
}

export function leftDeploy(): UnsettledDeploy | undefined {
  return parse<UnsettledDeploy>(DEPLOY)
}

function parse<T>(name: string): T | undefined {
  const value = core.getState(name)
  return value ? (JSON.parse(value) as T) : undefined
}
