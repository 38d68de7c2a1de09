import * as fs from 'node:fs'

// The repository and pull request a run belongs to, from the runner's environment and the event
// that started the run. Deployments record the pull request in a label, so a later prune can ask
// GitHub whether it is closed, and the pull request comment knows where to go.

export interface Repository {
  owner: string
  repo: string
}

export interface PullRequestRef extends Repository {
  number: number
}

// Pure: `owner/repo`, as GITHUB_REPOSITORY holds it.
export function repositoryOf(text: string | undefined): Repository | undefined {
  const [owner, repo, ...rest] = (text ?? '').split('/')
  return owner && repo && rest.length === 0 ? { owner, repo } : undefined
}

// Pure: the pull request of an event payload, if it has one (pull_request, pull_request_target
// and their kin).
export function pullRequestOf(payload: unknown, repository: Repository | undefined): PullRequestRef | undefined {
  const number = (payload as { pull_request?: { number?: unknown } } | undefined)?.pull_request?.number
  if (!repository || typeof number !== 'number' || !Number.isInteger(number) || number < 1) return undefined
  return { ...repository, number }
}

export function currentRepository(env: NodeJS.ProcessEnv = process.env): Repository | undefined {
  return repositoryOf(env.GITHUB_REPOSITORY)
}

// Pure: the pull request's head commit. On a pull_request event GITHUB_SHA is the merge commit
// GitHub made, not the commit the pull request shows.
export function headShaOf(payload: unknown): string | undefined {
  const sha = (payload as { pull_request?: { head?: { sha?: unknown } } } | undefined)?.pull_request?.head?.sha
  return typeof sha === 'string' && sha ? sha : undefined
}

// The runner writes the event payload to GITHUB_EVENT_PATH. Outside a run (the CLI, tests) there
// is none, and so no pull request.
function currentEvent(env: NodeJS.ProcessEnv): unknown {
  const file = env.GITHUB_EVENT_PATH
  if (!file || !fs.existsSync(file)) return undefined
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
}

export function currentPullRequest(env: NodeJS.ProcessEnv = process.env): PullRequestRef | undefined {
  return pullRequestOf(currentEvent(env), currentRepository(env))
}

// The commit a run deploys: the pull request's head, else the commit the run is for.
export function currentCommit(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return headShaOf(currentEvent(env)) ?? (env.GITHUB_SHA?.trim() || undefined)
}

// As a label value: `owner/repo#42`, the form GitHub itself writes cross-repository references in.
export function formatPullRequest(pr: PullRequestRef): string {
  return `${pr.owner}/${pr.repo}#${pr.number}`
}

export function parsePullRequest(text: string | undefined): PullRequestRef | undefined {
  const match = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)#([1-9][0-9]*)$/.exec(text ?? '')
  return match ? { owner: match[1], repo: match[2], number: Number(match[3]) } : undefined
}

// GitHub treats owner and repository names case-insensitively.
export function inRepository(pr: PullRequestRef, repository: Repository): boolean {
  return pr.owner.toLowerCase() === repository.owner.toLowerCase() && pr.repo.toLowerCase() === repository.repo.toLowerCase()
}

// The page of the workflow run, for a comment to link to; undefined outside GitHub Actions.
export function runUrlOf(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: run } = env
  return server && repository && run ? `${server}/${repository}/actions/runs/${run}` : undefined
}
