import type { DeploymentState, GitHubApi, GitHubEnvironment } from './api'
import type { AnnounceLog } from './announce'
import { currentRepository, runUrlOf } from './event'
import { log as runLog, withSecretsMasked } from '../log'
import { rememberGitHubDeployment, type PendingGitHubDeployment } from '../state-helper'

// GitHub Deployments: the pull request shows its environment, whether the deploy is in progress,
// ready (with the URL) or failed, and that it is gone after teardown. Like the comment, a courtesy:
// failing to record one is a warning, never a failed deploy.
//
// One GitHub deployment per commit and deployment on the Docker host: a re-run of the same commit
// adds statuses to it instead of creating another. Its `task` names the deployment on the Docker
// host, since one environment (by default `preview`) holds the deployments of every pull request.

// Outside a workflow run (the CLI) there is no repository to record a deployment in.
export function currentEnvironment(environment: string, deployment: string, env: NodeJS.ProcessEnv = process.env): GitHubEnvironment | undefined {
  const repository = currentRepository(env)
  return repository && { ...repository, environment, deployment, logUrl: runUrlOf(env) }
}

const PAGE_SIZE = 100
const DESCRIPTION_MAX = 140

// Pure: GitHub's `task` of the deployments of one deployment on the Docker host.
export function deploymentTask(deployment: string): string {
  return `deploy:${deployment}`
}

// Secrets masked as in the log (a failure's reason may quote the Docker host's address), and cut
// to the 140 characters GitHub takes.
export function statusDescription(text: string): string {
  const masked = withSecretsMasked(text)
  return masked.length <= DESCRIPTION_MAX ? masked : `${masked.slice(0, DESCRIPTION_MAX - 1)}…`
}

// The deployment of this commit if an earlier run made one, else a new one. Transient and not
// production: GitHub lets the environment be, and shows it as a preview.
export async function findOrCreateDeployment(api: GitHubApi, where: GitHubEnvironment, ref: string): Promise<number> {
  const repository = { owner: where.owner, repo: where.repo }
  const task = deploymentTask(where.deployment)
  const { data: existing } = await api.rest.repos.listDeployments({ ...repository, sha: ref, task, environment: where.environment, per_page: 1 })
  if (existing[0]) return existing[0].id
  const { data } = await api.rest.repos.createDeployment({
    ...repository,
    ref,
    task,
    environment: where.environment,
    description: `vic-lb-action deployment ${where.deployment}`,
    auto_merge: false,
    required_contexts: [],
    transient_environment: true,
    production_environment: false,
  })
  if (!('id' in data)) throw new Error(`GitHub created no deployment: ${data.message ?? 'no reason given'}`)
  return data.id
}

// auto_inactive is off: with an environment shared by every pull request, GitHub would make the
// other pull requests' deployments inactive whenever one succeeds. retireDeployments does it for
// this deployment's own.
export async function setDeploymentState(
  api: GitHubApi,
  where: GitHubEnvironment,
  id: number,
  state: DeploymentState,
  description: string,
  environmentUrl?: string,
): Promise<void> {
  await api.rest.repos.createDeploymentStatus({
    owner: where.owner,
    repo: where.repo,
    deployment_id: id,
    state,
    description: statusDescription(description),
    environment_url: environmentUrl,
    log_url: where.logUrl,
    auto_inactive: false,
  })
}

// Makes this deployment's GitHub deployments inactive, but `keep`; returns how many. Only the
// newest page is looked at: every earlier success retired those before it.
export async function retireDeployments(api: GitHubApi, where: GitHubEnvironment, description: string, keep?: number): Promise<number> {
  const repository = { owner: where.owner, repo: where.repo }
  const task = deploymentTask(where.deployment)
  const { data } = await api.rest.repos.listDeployments({ ...repository, task, environment: where.environment, per_page: PAGE_SIZE })
  let retired = 0
  for (const { id } of data.filter((d) => d.id !== keep)) {
    const { data: statuses } = await api.rest.repos.listDeploymentStatuses({ ...repository, deployment_id: id, per_page: 1 })
    if (statuses[0]?.state === 'inactive') continue
    await setDeploymentState(api, where, id, 'inactive', description)
    retired++
  }
  return retired
}

// What a deploy tells GitHub once it knows how it ended.
export interface DeploymentRecord {
  ready(url: string): Promise<void>
  failed(reason: string): Promise<void>
}

const NOT_RECORDED: DeploymentRecord = { ready: async () => {}, failed: async () => {} }

// Creates (or finds) the deployment and sets it in progress. After a first refusal it asks GitHub
// nothing more, so a missing permission is one warning.
export async function recordDeployment(
  api: GitHubApi | undefined,
  where: GitHubEnvironment | undefined,
  ref: string | undefined,
  log: AnnounceLog = runLog,
): Promise<DeploymentRecord> {
  const missing = !api ? 'no github-token given' : !where ? 'GITHUB_REPOSITORY is not set' : !ref ? 'no commit: neither a pull request nor GITHUB_SHA' : ''
  if (!api || !where || !ref) {
    log.debug(`No GitHub deployment: ${missing}.`)
    return NOT_RECORDED
  }
  let id: number
  try {
    id = await findOrCreateDeployment(api, where, ref)
    await setDeploymentState(api, where, id, 'in_progress', `Deploying ${where.deployment}`)
  } catch (error) {
    warnNotRecorded(log, where, error)
    return NOT_RECORDED
  }
  log.info(`GitHub deployment ${id} of ${ref.slice(0, 12)} in environment '${where.environment}': in progress`)
  // For the post step, should this run be killed before it can say how the deploy ended.
  rememberGitHubDeployment({ ...where, id })
  const settle = async (state: DeploymentState, description: string, url?: string, retire = false): Promise<void> => {
    try {
      await setDeploymentState(api, where, id, state, description, url)
      log.info(`GitHub deployment ${id}: ${state}`)
      if (retire) await retireDeployments(api, where, `Replaced by deployment ${id}`, id)
    } catch (error) {
      warnNotRecorded(log, where, error)
    } finally {
      rememberGitHubDeployment(undefined)
    }
  }
  return {
    ready: (url) => settle('success', `${where.deployment} serves ${url}`, url, true),
    failed: (reason) => settle('failure', reason),
  }
}

// Teardown and prune: the environment no longer serves.
export async function recordRemoved(
  api: GitHubApi | undefined,
  where: GitHubEnvironment | undefined,
  reason: string,
  log: AnnounceLog = runLog,
): Promise<void> {
  if (!api || !where) return
  try {
    const retired = await retireDeployments(api, where, `Removed (${reason})`)
    if (retired > 0) log.info(`Marked ${retired} GitHub deployment(s) of '${where.deployment}' in environment '${where.environment}' inactive`)
  } catch (error) {
    warnNotRecorded(log, where, error)
  }
}

// The post step, after a main step that was killed while its GitHub deployment was in progress.
export async function recordInterrupted(api: GitHubApi | undefined, pending: PendingGitHubDeployment, log: AnnounceLog = runLog): Promise<void> {
  if (!api) return
  try {
    await setDeploymentState(api, pending, pending.id, 'failure', 'The run was stopped before the deploy finished (cancelled, or its runner lost)')
    log.info(`GitHub deployment ${pending.id}: failure`)
  } catch (error) {
    warnNotRecorded(log, pending, error)
  }
}

function warnNotRecorded(log: AnnounceLog, where: GitHubEnvironment, error: unknown): void {
  log.warning(
    `Could not record the GitHub deployment of '${where.deployment}' in environment '${where.environment}': ${error instanceof Error ? error.message : String(error)}. The deployment itself is not affected; to record it, add \`deployments: write\` to the job's permissions.`,
  )
}
