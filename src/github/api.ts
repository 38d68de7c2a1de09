import { loadUndici } from './undici-on-demand'

// The few GitHub API calls the action makes, shaped as Octokit's REST methods so that the real
// client fits and tests can hand in a double.

export interface IssueComment {
  id: number
  body?: string | null
  html_url: string
}

// Only the fields the action reads. `task` names the deployment on the Docker host (deployments.ts).
export interface GitHubDeployment {
  id: number
  task: string
}

// The states the action sets; GitHub knows a few more (pending, queued, error).
export type DeploymentState = 'in_progress' | 'success' | 'failure' | 'inactive'

// Where the GitHub deployments of one deployment on the Docker host are (deployments.ts).
export interface GitHubEnvironment extends Repository {
  environment: string
  // The deployment on the Docker host (instance-prefix).
  deployment: string
  // The run's page, each status's log_url.
  logUrl?: string
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
    repos: {
      listDeployments(
        params: Repository & { sha?: string; task?: string; environment?: string; per_page?: number; page?: number },
      ): Promise<{ data: GitHubDeployment[] }>
      // 202 and a message instead of a deployment only when auto_merge merges: the action sets it false.
      createDeployment(
        params: Repository & {
          ref: string
          task: string
          environment: string
          description: string
          auto_merge: boolean
          required_contexts: string[]
          transient_environment: boolean
          production_environment: boolean
        },
      ): Promise<{ data: GitHubDeployment | { message?: string } }>
      // Newest first.
      listDeploymentStatuses(params: Repository & { deployment_id: number; per_page?: number }): Promise<{ data: { state: string }[] }>
      createDeploymentStatus(
        params: Repository & {
          deployment_id: number
          state: DeploymentState
          description: string
          environment_url?: string
          log_url?: string
          auto_inactive: boolean
        },
      ): Promise<{ data: { id: number; state: string } }>
    }
    actions: {
      getWorkflowRunAttempt(params: Repository & { run_id: number; attempt_number: number }): Promise<{ data: { status?: string | null } }>
    }
  }
}

// Loaded only when a github-token is given: Octokit is 6 MB of a run's memory from its start, and
// undici, which it sends with, 8 MB more, which a run without one need not hold.
export async function connectGitHub(token: string): Promise<GitHubApi> {
  const [{ getOctokit }] = await Promise.all([import('@actions/github'), loadUndici()])
  return getOctokit(token)
}
