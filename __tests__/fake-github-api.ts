import type { DeploymentState, GitHubApi, IssueComment } from '../src/github/api'
import type { AnnounceLog } from '../src/github/announce'

type Repository = { owner: string; repo: string }
// The parameters of a deployments call, as GitHubApi declares them.
type ReposParams<Name extends keyof GitHubApi['rest']['repos']> = Parameters<GitHubApi['rest']['repos'][Name]>[0]

export interface FakeDeployment {
  id: number
  ref: string
  task: string
  environment: string
  description: string
  transient: boolean
  production: boolean
  autoMerge: boolean
  requiredContexts: string[]
  // Newest last, unlike the API's answer.
  statuses: Omit<ReposParams<'createDeploymentStatus'>, 'owner' | 'repo' | 'deployment_id'>[]
}

// An Octokit-shaped double of the GitHub calls: comments and deployments live in memory, every
// call is recorded, and a call can be made to fail.
export class FakeGitHub implements GitHubApi {
  comments: (IssueComment & { issue: number })[] = []
  deployments: FakeDeployment[] = []
  calls: string[] = []
  failWith?: Error
  private next = 1000

  rest = {
    issues: {
      listComments: async (p: Repository & { issue_number: number; per_page?: number; page?: number }) => {
        this.call(`list page ${p.page}`)
        const size = p.per_page ?? 30
        const page = p.page ?? 1
        const ofIssue = this.comments.filter((c) => c.issue === p.issue_number)
        return { data: ofIssue.slice((page - 1) * size, page * size) }
      },
      createComment: async (p: Repository & { issue_number: number; body: string }) => {
        this.call('create')
        const comment = {
          id: this.next++,
          body: p.body,
          html_url: `https://github.com/${p.owner}/${p.repo}/pull/${p.issue_number}#c${this.next}`,
          issue: p.issue_number,
        }
        this.comments.push(comment)
        return { data: comment }
      },
      updateComment: async (p: Repository & { comment_id: number; body: string }) => {
        this.call(`update ${p.comment_id}`)
        const comment = this.comments.find((c) => c.id === p.comment_id)!
        comment.body = p.body
        return { data: comment }
      },
    },
    pulls: {
      get: async () => {
        this.call('get pull')
        return { data: { state: 'open' } }
      },
    },
    repos: {
      // Newest first, as GitHub lists them.
      listDeployments: async (p: ReposParams<'listDeployments'>) => {
        this.call('list deployments')
        const matching = this.deployments.filter(
          (d) => (!p.sha || d.ref === p.sha) && (!p.task || d.task === p.task) && (!p.environment || d.environment === p.environment),
        )
        return { data: matching.reverse().slice(0, p.per_page ?? 30) }
      },
      createDeployment: async (p: ReposParams<'createDeployment'>) => {
        this.call('create deployment')
        const deployment: FakeDeployment = {
          id: this.next++,
          ref: p.ref,
          task: p.task,
          environment: p.environment,
          description: p.description,
          transient: p.transient_environment,
          production: p.production_environment,
          autoMerge: p.auto_merge,
          requiredContexts: p.required_contexts,
          statuses: [],
        }
        this.deployments.push(deployment)
        return { data: deployment }
      },
      listDeploymentStatuses: async (p: ReposParams<'listDeploymentStatuses'>) => {
        this.call(`list statuses ${p.deployment_id}`)
        const statuses = [...this.deployment(p.deployment_id).statuses].reverse()
        return { data: statuses.slice(0, p.per_page ?? 30) }
      },
      createDeploymentStatus: async (p: ReposParams<'createDeploymentStatus'>) => {
        this.call(`${p.state} ${p.deployment_id}`)
        const { deployment_id: _id, owner: _owner, repo: _repo, ...status } = p
        this.deployment(p.deployment_id).statuses.push(status)
        return { data: { id: this.next++, state: p.state } }
      },
    },
    actions: {
      getWorkflowRunAttempt: async () => {
        this.call('get run attempt')
        return { data: { status: 'in_progress' } }
      },
    },
  }

  private call(what: string): void {
    this.calls.push(what)
    if (this.failWith) throw this.failWith
  }

  private deployment(id: number): FakeDeployment {
    const found = this.deployments.find((d) => d.id === id)
    if (!found) throw new Error('Not Found')
    return found
  }

  addComments(issue: number, count: number, body = (i: number) => `comment ${i}`): void {
    for (let i = 0; i < count; i++) this.comments.push({ id: this.next++, body: body(i), html_url: `u${i}`, issue })
  }

  // Each deployment's states, oldest first.
  statesOf(): Record<number, DeploymentState[]> {
    return Object.fromEntries(this.deployments.map((d) => [d.id, d.statuses.map((s) => s.state)]))
  }
}

// A log that keeps what it is told, by level.
export function recorder(): AnnounceLog & { infos: string[]; warnings: string[]; debugs: string[] } {
  const log = { infos: [] as string[], warnings: [] as string[], debugs: [] as string[] }
  return { ...log, info: (m) => log.infos.push(m), warning: (m) => log.warnings.push(m), debug: (m) => log.debugs.push(m) }
}
