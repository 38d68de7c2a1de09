import { describe, expect, it } from 'vitest'
import type { DeployResult } from '../src/deploy'
import { SERVING_BACKEND } from '../src/haproxy/config'
import { announceDeployed, announceRemoved, deployedEnvironment } from '../src/github/announce'
import { findComment, publishComment } from '../src/github/comment'
import { commentMarker, isCommentOf, renderDeployedComment, renderRemovedComment, utc, type DeployedEnvironment } from '../src/github/comment-text'
import type { PullRequestRef } from '../src/github/event'
import { FakeGitHub, recorder } from './fake-github-api'

const pr: PullRequestRef = { owner: 'octo', repo: 'shop', number: 42 }
const at = new Date('2024-05-01T12:34:56.789Z')

const deployed: DeployedEnvironment = {
  deployment: 'pr-42',
  url: 'http://10.0.0.5:8080',
  image: 'ghcr.io/octo/shop:sha-abc',
  instances: [
    { name: 'pr-42-0a1b2c3d-1', state: 'UP (last check: L7OK)' },
    { name: 'pr-42-0a1b2c3d-2', state: 'DOWN | odd (last check: L4TOUT)' },
  ],
  at,
  runUrl: 'https://github.com/octo/shop/actions/runs/99',
}

describe('commentMarker and isCommentOf', () => {
  it('is an HTML comment naming the deployment, which Markdown does not show', () => {
    expect(commentMarker('pr-42')).toBe('<!-- vic-lb-action:deployment=pr-42 -->')
  })

  it('finds the marker of exactly this deployment, never of one whose name starts the same', () => {
    const body = `${commentMarker('pr-42')}\n### text`
    expect(isCommentOf(body, 'pr-42')).toBe(true)
    expect(isCommentOf(body, 'pr-4')).toBe(false)
    expect(isCommentOf(`${commentMarker('pr-4')}\n`, 'pr-42')).toBe(false)
    expect(isCommentOf('vic-lb-action:deployment=pr-42', 'pr-42')).toBe(false)
    expect(isCommentOf(null, 'pr-42')).toBe(false)
    expect(isCommentOf(undefined, 'pr-42')).toBe(false)
  })
})

describe('renderDeployedComment', () => {
  const text = renderDeployedComment(deployed)

  it('starts with the marker', () => {
    expect(text.split('\n')[0]).toBe(commentMarker('pr-42'))
    expect(isCommentOf(text, 'pr-42')).toBe(true)
  })

  it('gives the URL, the image, each instance with its state, and the time in UTC', () => {
    expect(text).toContain('**URL:** http://10.0.0.5:8080')
    expect(text).toContain('`ghcr.io/octo/shop:sha-abc`')
    expect(text).toContain('| `pr-42-0a1b2c3d-1` | UP (last check: L7OK) |')
    expect(text).toContain('2024-05-01 12:34:56 UTC')
    expect(text).toContain('[this run](https://github.com/octo/shop/actions/runs/99)')
  })

  it('keeps a state with a pipe inside its table cell', () => {
    const row = text.split('\n').find((l) => l.includes('pr-42-0a1b2c3d-2'))!
    expect(row).toBe('| `pr-42-0a1b2c3d-2` | DOWN \\| odd (last check: L4TOUT) |')
  })

  it('is the same text for the same facts, and names no run outside Actions', () => {
    expect(renderDeployedComment({ ...deployed })).toBe(text)
    expect(renderDeployedComment({ ...deployed, runUrl: undefined })).not.toContain('this run')
  })
})

describe('renderRemovedComment', () => {
  it('keeps the marker and says the environment is gone, when and why', () => {
    const text = renderRemovedComment({ deployment: 'pr-42', at, reason: 'teardown' })
    expect(text.split('\n')[0]).toBe(commentMarker('pr-42'))
    expect(text).toContain('removed')
    expect(text).toContain('2024-05-01 12:34:56 UTC')
    expect(text).toContain('(teardown)')
    expect(text).toMatch(/no longer serves/)
    expect(text).not.toContain('http://')
  })
})

describe('utc', () => {
  it('writes the time to the second, in UTC whatever the local zone', () => {
    expect(utc(new Date('2024-12-31T23:59:59.999Z'))).toBe('2024-12-31 23:59:59 UTC')
  })
})

describe('publishComment against an Octokit-shaped double', () => {
  it('creates the comment on the first deploy, then edits that one comment', async () => {
    const github = new FakeGitHub()
    github.addComments(pr.number, 3)
    const first = await publishComment(github, pr, 'pr-42', renderDeployedComment(deployed), 'create-or-update')
    expect(first.action).toBe('created')
    expect(github.comments).toHaveLength(4)

    const later = renderDeployedComment({ ...deployed, at: new Date('2024-05-02T00:00:00Z') })
    const second = await publishComment(github, pr, 'pr-42', later, 'create-or-update')
    expect(second.action).toBe('updated')
    expect(github.comments).toHaveLength(4)
    expect(github.comments.filter((c) => isCommentOf(c.body, 'pr-42'))).toEqual([expect.objectContaining({ body: later })])
    expect(github.calls).toEqual(['list page 1', 'create', 'list page 1', `update ${github.comments[3].id}`])
  })

  it("leaves another deployment's comment on the same pull request alone", async () => {
    const github = new FakeGitHub()
    await publishComment(github, pr, 'pr-42-api', renderDeployedComment({ ...deployed, deployment: 'pr-42-api' }), 'create-or-update')
    await publishComment(github, pr, 'pr-42', renderDeployedComment(deployed), 'create-or-update')
    expect(github.comments).toHaveLength(2)
    expect(github.calls.filter((c) => c === 'create')).toHaveLength(2)
  })

  it('finds its comment past the first page of comments', async () => {
    const github = new FakeGitHub()
    github.addComments(pr.number, 250, (i) => (i === 230 ? `${commentMarker('pr-42')}\nold` : `comment ${i}`))
    const found = await findComment(github, pr, 'pr-42')
    expect(found?.body).toContain('old')
    expect(github.calls).toEqual(['list page 1', 'list page 2', 'list page 3'])
    const outcome = await publishComment(github, pr, 'pr-42', 'new text', 'create-or-update')
    expect(outcome.action).toBe('updated')
    expect(github.comments).toHaveLength(250)
  })

  it('stops listing at the last page when no comment has the marker', async () => {
    const github = new FakeGitHub()
    github.addComments(pr.number, 200)
    expect(await findComment(github, pr, 'pr-42')).toBeUndefined()
    expect(github.calls).toEqual(['list page 1', 'list page 2', 'list page 3'])
  })

  it('edits the oldest when two comments carry the marker', async () => {
    const github = new FakeGitHub()
    github.addComments(pr.number, 2, () => `${commentMarker('pr-42')}\nx`)
    await publishComment(github, pr, 'pr-42', 'new text', 'create-or-update')
    expect(github.comments.map((c) => c.body)).toEqual(['new text', `${commentMarker('pr-42')}\nx`])
  })

  it('update-only edits an existing comment but never creates one', async () => {
    const github = new FakeGitHub()
    expect(await publishComment(github, pr, 'pr-42', 'gone', 'update-only')).toEqual({ action: 'none' })
    expect(github.comments).toEqual([])
    await publishComment(github, pr, 'pr-42', renderDeployedComment(deployed), 'create-or-update')
    expect((await publishComment(github, pr, 'pr-42', 'gone', 'update-only')).action).toBe('updated')
    expect(github.comments.map((c) => c.body)).toEqual(['gone'])
  })
})

describe('announceDeployed and announceRemoved', () => {
  it('post nothing without a token or outside a pull request, and say why at debug level', async () => {
    const github = new FakeGitHub()
    const log = recorder()
    await announceDeployed(undefined, pr, deployed, log)
    await announceDeployed(github, undefined, deployed, log)
    await announceRemoved(github, undefined, { deployment: 'pr-42', at, reason: 'teardown' }, log)
    expect(github.calls).toEqual([])
    expect(log.debugs).toEqual([
      expect.stringContaining('no github-token'),
      expect.stringContaining('not for a pull request'),
      expect.stringContaining('not for a pull request'),
    ])
  })

  it('create, then mark the environment removed in the same comment', async () => {
    const github = new FakeGitHub()
    const log = recorder()
    await announceDeployed(github, pr, deployed, log)
    await announceRemoved(github, pr, { deployment: 'pr-42', at, reason: 'teardown' }, log)
    expect(github.comments).toHaveLength(1)
    expect(github.comments[0].body).toContain(': removed')
    expect(log.infos).toEqual([
      expect.stringMatching(/^Commented on pull request octo\/shop#42: /),
      expect.stringMatching(/^Updated the comment on pull request octo\/shop#42: /),
    ])
  })

  it('turn a failing GitHub API into a warning that says what failed and what to check', async () => {
    const github = new FakeGitHub()
    github.failWith = new Error('Resource not accessible by integration')
    const log = recorder()
    await expect(announceDeployed(github, pr, deployed, log)).resolves.toBeUndefined()
    expect(log.warnings).toHaveLength(1)
    expect(log.warnings[0]).toMatch(/^Could not comment on pull request octo\/shop#42 about deployment 'pr-42': Resource not accessible by integration\./)
    expect(log.warnings[0]).toContain('pull-requests: write')
  })
})

describe('deployedEnvironment', () => {
  it("takes each instance's state behind the load-balancer from HAProxy's statuses", () => {
    const result: DeployResult = {
      ip: '10.0.0.5',
      port: 8080,
      url: 'http://10.0.0.5:8080',
      lbContainer: 'abc',
      instances: ['pr-42-aa-1', 'pr-42-aa-2'],
      statuses: [{ backend: SERVING_BACKEND, server: 'pr-42-aa-1', status: 'UP', checkStatus: 'L7OK' }],
      config: '',
      changed: true,
    }
    const env = deployedEnvironment('pr-42', 'shop:1', result, at)
    expect(env).toMatchObject({ deployment: 'pr-42', url: 'http://10.0.0.5:8080', image: 'shop:1', at })
    expect(env.instances.map((i) => i.name)).toEqual(['pr-42-aa-1', 'pr-42-aa-2'])
    expect(env.instances[1].state).toBe('not in the load-balancer yet')
  })
})
