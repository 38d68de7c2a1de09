import type { GitHubApi, IssueComment } from './api'
import { isCommentOf } from './comment-text'
import type { PullRequestRef } from './event'

// One comment per deployment on its pull request: created by the first deploy, edited in place
// by every later run, so the conversation is not flooded with one comment per push.

// A deploy creates the comment; a removal only edits one that is there (no news is good news
// on a pull request that never had an environment).
export type CommentMode = 'create-or-update' | 'update-only'

export type CommentOutcome = { action: 'created' | 'updated'; url: string } | { action: 'none' }

const PAGE_SIZE = 100

export async function publishComment(api: GitHubApi, pr: PullRequestRef, deployment: string, body: string, mode: CommentMode): Promise<CommentOutcome> {
  const repository = { owner: pr.owner, repo: pr.repo }
  const existing = await findComment(api, pr, deployment)
  if (existing) {
    const { data } = await api.rest.issues.updateComment({ ...repository, comment_id: existing.id, body })
    return { action: 'updated', url: data.html_url }
  }
  if (mode === 'update-only') return { action: 'none' }
  const { data } = await api.rest.issues.createComment({ ...repository, issue_number: pr.number, body })
  return { action: 'created', url: data.html_url }
}

// The oldest comment with the deployment's marker: should two runs ever have created one each,
// the first goes on being the one that is edited.
export async function findComment(api: GitHubApi, pr: PullRequestRef, deployment: string): Promise<IssueComment | undefined> {
  for (let page = 1; ; page++) {
    const { data } = await api.rest.issues.listComments({ owner: pr.owner, repo: pr.repo, issue_number: pr.number, per_page: PAGE_SIZE, page })
    const found = data.find((comment) => isCommentOf(comment.body, deployment))
    if (found) return found
    if (data.length < PAGE_SIZE) return undefined
  }
}
