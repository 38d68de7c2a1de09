import type { DeployResult } from '../deploy'
import { SERVING_BACKEND } from '../haproxy/config'
import { describeServer } from '../haproxy/stats'
import type { GitHubApi } from './api'
import { publishComment, type CommentMode } from './comment'
import { renderDeployedComment, renderRemovedComment, type DeployedEnvironment, type RemovedEnvironment } from './comment-text'
import { formatPullRequest, type PullRequestRef } from './event'
import { log as runLog } from '../log'

// Tells the pull request about its environment. A comment is a courtesy: failing to write one
// is a warning, never a failed deploy or teardown.

export interface AnnounceLog {
  info(message: string): void
  warning(message: string): void
  debug(message: string): void
}

export function deployedEnvironment(deployment: string, image: string, result: DeployResult, at: Date, runUrl?: string): DeployedEnvironment {
  return {
    deployment,
    url: result.url,
    image,
    instances: result.instances.map((name) => ({ name, state: describeServer(result.statuses, SERVING_BACKEND, name) })),
    at,
    runUrl,
  }
}

export function announceDeployed(
  api: GitHubApi | undefined,
  pr: PullRequestRef | undefined,
  env: DeployedEnvironment,
  log: AnnounceLog = runLog,
): Promise<void> {
  return announce(api, pr, env.deployment, renderDeployedComment(env), 'create-or-update', log)
}

export function announceRemoved(api: GitHubApi | undefined, pr: PullRequestRef | undefined, env: RemovedEnvironment, log: AnnounceLog = runLog): Promise<void> {
  return announce(api, pr, env.deployment, renderRemovedComment(env), 'update-only', log)
}

async function announce(
  api: GitHubApi | undefined,
  pr: PullRequestRef | undefined,
  deployment: string,
  body: string,
  mode: CommentMode,
  log: AnnounceLog,
): Promise<void> {
  if (!api || !pr) {
    log.debug(`No pull request comment for deployment '${deployment}': ${!api ? 'no github-token given' : 'the run is not for a pull request'}.`)
    return
  }
  try {
    const outcome = await publishComment(api, pr, deployment, body, mode)
    if (outcome.action === 'created') log.info(`Commented on pull request ${formatPullRequest(pr)}: ${outcome.url}`)
    if (outcome.action === 'updated') log.info(`Updated the comment on pull request ${formatPullRequest(pr)}: ${outcome.url}`)
  } catch (error) {
    log.warning(
      `Could not comment on pull request ${formatPullRequest(pr)} about deployment '${deployment}': ${error instanceof Error ? error.message : String(error)}. The deployment itself is not affected; check that github-token may write pull requests (permissions: pull-requests: write).`,
    )
  }
}
