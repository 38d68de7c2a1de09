import * as core from '@actions/core'
import { log } from './log'
import type { DockerHost } from './docker/deploy-host'
import { describe } from './docker/engine'
import type { GitHubApi } from './github/api'
import { announceRemoved } from './github/announce'
import { currentEnvironment, recordRemoved } from './github/deployments'
import { currentRepository, inRepository, parsePullRequest, runUrlOf, type PullRequestRef, type Repository } from './github/event'
import { pullRequestStates } from './github/pulls'
import type { PruneSettings } from './inputs'
import { LABEL } from './labels'
import { withDeploymentLock, type LockOptions } from './lock'
import { ownershipOf } from './owner'
import { teardown } from './teardown'

// Removes preview environments nobody removed: a missed `closed` event, a cancelled teardown, a
// pull request left open for weeks. Deciding what goes is pure (planPrune); the Docker host and
// GitHub are read before and written after.

// One labelled container or network, as far as pruning cares.
export interface DeploymentObject {
  deployment: string
  role: string
  created: Date
  // '' for an object made before owner labels.
  owner: string
  pullRequest?: string
}

export interface DeploymentSummary {
  deployment: string
  // The creation time of its newest object: the last time a run changed it.
  newest: Date
  // `owner/repo#42`, from the newest object that names one.
  pullRequest?: string
  // The owner label of each of its objects, '' where there is none (owner.ts).
  owners: string[]
}

export interface PrunePolicy {
  // Who prunes: only its deployments go, and those without any owner label by max-age alone.
  owner: string
  now: Date
  maxAgeSeconds?: number
  // Closed pull requests as formatPullRequest writes them.
  closedPullRequests: Set<string>
}

export interface PruneDecision {
  deployment: string
  remove: boolean
  reason: string
  pullRequest?: string
}

export interface PruneReport {
  removed: PruneDecision[]
  kept: PruneDecision[]
  // Deployments on the host that the instance-prefix pattern leaves out.
  unmatched: number
  // Deployments that match, but of other owners: never considered.
  otherOwners: number
  failed: { deployment: string; error: string }[]
}

// `*` matches any characters; everything else itself.
export function matchesPattern(deployment: string, pattern: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${source}$`).test(deployment)
}

export function summarizeDeployments(objects: DeploymentObject[]): DeploymentSummary[] {
  const byDeployment = new Map<string, DeploymentObject[]>()
  for (const object of objects) byDeployment.set(object.deployment, [...(byDeployment.get(object.deployment) ?? []), object])
  return [...byDeployment]
    .map(([deployment, group]) => {
      const newestFirst = [...group].sort((a, b) => b.created.getTime() - a.created.getTime())
      const pullRequest = newestFirst.find((o) => o.pullRequest)?.pullRequest
      return { deployment, newest: newestFirst[0].created, owners: [...new Set(group.map((o) => o.owner))].sort(), ...(pullRequest ? { pullRequest } : {}) }
    })
    .sort((a, b) => a.deployment.localeCompare(b.deployment))
}

export function decide(summary: DeploymentSummary, policy: PrunePolicy): PruneDecision {
  const { deployment, pullRequest } = summary
  const verdict = (remove: boolean, reason: string): PruneDecision => ({ deployment, remove, reason, ...(pullRequest ? { pullRequest } : {}) })
  const ownership = ownershipOf(summary.owners, policy.owner)
  if (ownership.kind === 'foreign') return verdict(false, `belongs to ${ownership.owner}`)
  // Made before owner labels: whose it is cannot be told, so only its age may remove it.
  const unowned = ownership.kind === 'unowned'
  if (!unowned && pullRequest && policy.closedPullRequests.has(pullRequest)) return verdict(true, `pull request ${pullRequest} is closed`)
  const ageSeconds = Math.max(0, Math.floor((policy.now.getTime() - summary.newest.getTime()) / 1000))
  const age = `last changed ${formatDuration(ageSeconds)} ago`
  if (policy.maxAgeSeconds === undefined) {
    if (unowned) return verdict(false, 'no owner label (an earlier version created it), and no max-age')
    return verdict(false, pullRequest ? `pull request ${pullRequest} is not known to be closed` : 'no pull request, and no max-age')
  }
  if (ageSeconds > policy.maxAgeSeconds) return verdict(true, `${age}, longer than max-age ${formatDuration(policy.maxAgeSeconds)}`)
  return verdict(false, `${age}, within max-age ${formatDuration(policy.maxAgeSeconds)}`)
}

export function planPrune(summaries: DeploymentSummary[], policy: PrunePolicy): PruneDecision[] {
  return summaries.map((summary) => decide(summary, policy))
}

// The two largest units, e.g. '3d 4h', '90m' as '1h 30m', '0s'.
export function formatDuration(seconds: number): string {
  const units: [string, number][] = [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ]
  let rest = seconds
  const parts = units.map(([unit, size]) => {
    const count = Math.floor(rest / size)
    rest -= count * size
    return count > 0 ? `${count}${unit}` : ''
  })
  return parts.filter(Boolean).slice(0, 2).join(' ') || '0s'
}

// Pure: an object's labels (and Docker's own creation time, for an object whose label was lost)
// to what pruning needs.
export function objectOf(labels: Record<string, string>, createdOnHost: Date): DeploymentObject | undefined {
  const deployment = labels[LABEL.deployment]
  if (!deployment) return undefined
  const labelled = new Date(labels[LABEL.created] ?? '')
  const pullRequest = labels[LABEL.pullRequest]
  return {
    deployment,
    role: labels[LABEL.role] ?? '',
    created: Number.isNaN(labelled.getTime()) ? createdOnHost : labelled,
    owner: labels[LABEL.owner] ?? '',
    ...(pullRequest ? { pullRequest } : {}),
  }
}

export interface PruneContext {
  lock: Omit<LockOptions, 'operation'>
  // With a token: pull requests of this repository are asked about, and told when their
  // environment goes.
  github?: GitHubApi
  // Where the removed deployments' GitHub deployments are, to be made inactive.
  environment?: string
}

export async function prune(host: DockerHost, settings: PruneSettings, context: PruneContext): Promise<PruneReport> {
  const all = summarizeDeployments(await listObjects(host, [LABEL.deployment]))
  const matching = all.filter((s) => matchesPattern(s.deployment, settings.deployments))
  const candidates = matching.filter((s) => ownershipOf(s.owners, settings.owner).kind !== 'foreign')
  const repository = currentRepository()
  const owned = candidates.filter((s) => ownershipOf(s.owners, settings.owner).kind === 'ours')
  const closed = await closedPullRequests(context.github, repository, owned)
  const policy = (): PrunePolicy => ({ owner: settings.owner, now: new Date(), maxAgeSeconds: settings.maxAgeSeconds, closedPullRequests: closed })
  const plan = planPrune(candidates, policy())
  const report: PruneReport = {
    removed: [],
    kept: plan.filter((d) => !d.remove),
    unmatched: all.length - matching.length,
    otherOwners: matching.length - candidates.length,
    failed: [],
  }

  for (const decision of plan.filter((d) => d.remove)) {
    try {
      // A deploy may have been waiting for, or holding, the lock: decide again on what is there now.
      const outcome = await withDeploymentLock(host, decision.deployment, { ...context.lock, operation: 'prune' }, async (leased) => {
        const objects = (await listObjects(leased, [`${LABEL.deployment}=${decision.deployment}`])).filter((o) => o.role !== 'lock')
        const [current] = summarizeDeployments(objects)
        const again = current ? decide(current, policy()) : { ...decision, reason: `${decision.reason}; only its lock was left` }
        if (again.remove) await teardown(leased, decision.deployment, settings.owner, context.lock)
        return again.remove ? again : { ...again, reason: `changed while prune waited: ${again.reason}` }
      })
      ;(outcome.remove ? report.removed : report.kept).push(outcome)
      if (outcome.remove && repository) {
        const reason = `pruned: ${outcome.reason}`
        await announceRemoved(context.github, pullRequestOfRepository(outcome.pullRequest, repository), {
          deployment: outcome.deployment,
          at: new Date(),
          reason,
          runUrl: runUrlOf(),
        })
        if (context.environment) await recordRemoved(context.github, currentEnvironment(context.environment, outcome.deployment), reason)
      }
    } catch (error) {
      report.failed.push({ deployment: decision.deployment, error: describe(error) })
    }
  }
  return report
}

// Volumes count too: a deployment whose last objects are its services' volumes is still pruned.
// Their creation time is read from their label only (a VCH reports none).
async function listObjects(host: DockerHost, labels: string[]): Promise<DeploymentObject[]> {
  const [containers, networks, volumes] = await Promise.all([host.listContainers(labels), host.listNetworks(labels), host.listVolumes(labels)])
  return [...containers, ...networks, ...volumes.map((v) => ({ ...v, created: new Date(0) }))]
    .map((o) => objectOf(o.labels, o.created))
    .filter((o): o is DeploymentObject => o !== undefined)
}

// Only this repository's pull requests are asked about: the token is for this repository.
async function closedPullRequests(github: GitHubApi | undefined, repository: Repository | undefined, candidates: DeploymentSummary[]): Promise<Set<string>> {
  if (!github) return new Set()
  if (!repository) {
    log.warning('github-token is given but GITHUB_REPOSITORY is not set: no pull request is asked about, so only max-age removes deployments.')
    return new Set()
  }
  const ours = candidates.map((c) => pullRequestOfRepository(c.pullRequest, repository)).filter((pr): pr is PullRequestRef => pr !== undefined)
  const states = await pullRequestStates(github, ours)
  for (const failure of states.unknown) log.warning(`Could not read the state of pull request ${failure}; its deployment is kept.`)
  return states.closed
}

function pullRequestOfRepository(label: string | undefined, repository: Repository): PullRequestRef | undefined {
  const pr = parsePullRequest(label)
  return pr && inRepository(pr, repository) ? pr : undefined
}

// The log and the job summary say what went and what stayed, each with why.
export function describePrune(report: PruneReport, pattern: string): string[] {
  const line = (d: PruneDecision): string => `  ${d.deployment}: ${d.reason}`
  return [
    `Deployments matching '${pattern}': ${report.removed.length + report.kept.length + report.failed.length}; ${report.otherOwners} of other owners and ${report.unmatched} other(s) on the Docker host left alone.`,
    `Removed ${report.removed.length}${report.removed.length ? ':' : '.'}`,
    ...report.removed.map(line),
    `Kept ${report.kept.length}${report.kept.length ? ':' : '.'}`,
    ...report.kept.map(line),
    ...(report.failed.length ? [`Could not remove ${report.failed.length}:`, ...report.failed.map((f) => `  ${f.deployment}: ${f.error}`)] : []),
  ]
}

export async function summarizePrune(report: PruneReport, pattern: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  const rows = [
    ...report.removed.map((d) => [d.deployment, 'removed', d.reason]),
    ...report.failed.map((f) => [f.deployment, 'could not be removed', f.error]),
    ...report.kept.map((d) => [d.deployment, 'kept', d.reason]),
  ].map((row) => row.map(escape))
  await core.summary
    .addHeading(`Prune of deployments matching ${escape(pattern)}`, 2)
    .addTable([
      [
        { data: 'Deployment', header: true },
        { data: 'Outcome', header: true },
        { data: 'Why', header: true },
      ],
      ...rows,
    ])
    .write()
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
