import type { GitHubApi } from './api'
import { formatPullRequest, type PullRequestRef } from './event'

export interface PullRequestStates {
  // As formatPullRequest writes them.
  closed: Set<string>
  // Pull requests whose state could not be read, with why: their deployments are kept.
  unknown: string[]
}

export async function pullRequestStates(api: GitHubApi, pullRequests: PullRequestRef[]): Promise<PullRequestStates> {
  const states: PullRequestStates = { closed: new Set(), unknown: [] }
  for (const pr of pullRequests) {
    try {
      const { data } = await api.rest.pulls.get({ owner: pr.owner, repo: pr.repo, pull_number: pr.number })
      if (data.state === 'closed') states.closed.add(formatPullRequest(pr))
    } catch (error) {
      states.unknown.push(`${formatPullRequest(pr)}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  return states
}
