// The few GitHub API calls the action makes, shaped as Octokit's REST methods so that the real
// client fits and tests can hand in a double.

export interface IssueComment {
  id: number
  body?: string | null
  html_url: string
}

// A type alias, not an interface: Octokit's parameters carry an index signature that only
// anonymous object types are assignable to.
type Repository = { owner: string; repo: string }

export interface GitHubApi {
  rest: {
    issues: {
      listComments(params: Repository & { issue_number: number; per_page?: number; page?: number }): Promise<{ data: IssueComment[] }>
      createComment(params: Repository & { issue_number: number; body: string }): Promise<{ data: IssueComment }>
      updateComment(params: Repository & { comment_id: number; body: string }): Promise<{ data: IssueComment }>
    }
    pulls: {
      get(params: Repository & { pull_number: number }): Promise<{ data: { state: string } }>
    }
    actions: {
      getWorkflowRunAttempt(params: Repository & { run_id: number; attempt_number: number }): Promise<{ data: { status?: string | null } }>
    }
  }
}

// Loaded only when a github-token is given: Octokit is 6 MB of a run's memory from its start,
// which a run without one need not hold.
export async function connectGitHub(token: string): Promise<GitHubApi> {
  const { getOctokit } = await import('@actions/github')
  return getOctokit(token)
}
