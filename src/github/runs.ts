import type { GitHubApi } from './api'

// A lock's holder as a workflow run, `owner/repo run_id attempt` (lock.ts labels the lock with
// it): with a github-token, a waiting run asks GitHub whether that run has completed, in which case
// it holds nothing any more. Anything unclear (no access, an unknown run) proves nothing.

export function workflowRunOf(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const { GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: runId, GITHUB_RUN_ATTEMPT: attempt } = env
  return repository && runId ? `${repository} ${runId} ${attempt || '1'}` : undefined
}

export function workflowRunFinished(api: GitHubApi): (run: string) => Promise<boolean> {
  return async (run) => {
    const [repository, runId, attempt] = run.split(' ')
    const [owner, repo] = repository?.split('/') ?? []
    if (!owner || !repo || !/^\d+$/.test(runId ?? '') || !/^\d+$/.test(attempt ?? '')) return false
    try {
      const { data } = await api.rest.actions.getWorkflowRunAttempt({ owner, repo, run_id: Number(runId), attempt_number: Number(attempt) })
      return data.status === 'completed'
    } catch {
      return false
    }
  }
}
