import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  currentCommit,
  currentPullRequest,
  currentRepository,
  formatPullRequest,
  headShaOf,
  inRepository,
  parsePullRequest,
  pullRequestOf,
  repositoryOf,
  runUrlOf,
} from '../src/github/event'

// Which pull request a run comments on, from the event the runner wrote.

const dirs: string[] = []
afterEach(() => dirs.splice(0).forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

function eventFile(payload: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-event-'))
  dirs.push(dir)
  const file = path.join(dir, 'event.json')
  fs.writeFileSync(file, typeof payload === 'string' ? payload : JSON.stringify(payload))
  return file
}

describe('pullRequestOf', () => {
  const repo = { owner: 'octo', repo: 'shop' }

  it('reads the number of a pull_request payload', () => {
    expect(pullRequestOf({ action: 'opened', number: 7, pull_request: { number: 7 } }, repo)).toEqual({ owner: 'octo', repo: 'shop', number: 7 })
  })

  it('finds none in other events, or without a repository', () => {
    expect(pullRequestOf({ ref: 'refs/heads/main' }, repo)).toBeUndefined()
    expect(pullRequestOf({ schedule: '0 3 * * *' }, repo)).toBeUndefined()
    expect(pullRequestOf({ issue: { number: 3 } }, repo)).toBeUndefined()
    expect(pullRequestOf({ pull_request: { number: 7 } }, undefined)).toBeUndefined()
    expect(pullRequestOf(undefined, repo)).toBeUndefined()
  })

  it.each([0, -1, 1.5, '7', null])('refuses the number %j', (number) => {
    expect(pullRequestOf({ pull_request: { number } }, repo)).toBeUndefined()
  })
})

describe('repositoryOf', () => {
  it('splits owner/repo and refuses anything else', () => {
    expect(repositoryOf('octo/shop')).toEqual({ owner: 'octo', repo: 'shop' })
    for (const bad of [undefined, '', 'octo', 'octo/', '/shop', 'a/b/c']) expect(repositoryOf(bad), String(bad)).toBeUndefined()
  })
})

describe('currentPullRequest', () => {
  it('reads GITHUB_EVENT_PATH and GITHUB_REPOSITORY', () => {
    const env = { GITHUB_EVENT_PATH: eventFile({ pull_request: { number: 12 } }), GITHUB_REPOSITORY: 'octo/shop' }
    expect(currentPullRequest(env)).toEqual({ owner: 'octo', repo: 'shop', number: 12 })
    expect(currentRepository(env)).toEqual({ owner: 'octo', repo: 'shop' })
  })

  it('is undefined outside a run, for a missing or unreadable event file', () => {
    expect(currentPullRequest({})).toBeUndefined()
    expect(currentPullRequest({ GITHUB_EVENT_PATH: '/nonexistent/event.json', GITHUB_REPOSITORY: 'o/r' })).toBeUndefined()
    expect(currentPullRequest({ GITHUB_EVENT_PATH: eventFile('{not json'), GITHUB_REPOSITORY: 'o/r' })).toBeUndefined()
  })
})

describe('headShaOf and currentCommit', () => {
  const head = 'c'.repeat(40)

  it("take the pull request's head commit, not GITHUB_SHA's merge commit", () => {
    expect(headShaOf({ pull_request: { number: 12, head: { sha: head } } })).toBe(head)
    const env = { GITHUB_EVENT_PATH: eventFile({ pull_request: { number: 12, head: { sha: head } } }), GITHUB_SHA: 'd'.repeat(40) }
    expect(currentCommit(env)).toBe(head)
  })

  it('fall back to GITHUB_SHA for an event without a pull request, and to nothing outside a run', () => {
    expect(headShaOf({ ref: 'refs/heads/main' })).toBeUndefined()
    expect(headShaOf({ pull_request: { head: { sha: 42 } } })).toBeUndefined()
    expect(currentCommit({ GITHUB_EVENT_PATH: eventFile({ schedule: '1 * * * *' }), GITHUB_SHA: 'd'.repeat(40) })).toBe('d'.repeat(40))
    expect(currentCommit({})).toBeUndefined()
  })
})

describe('formatPullRequest and parsePullRequest', () => {
  it('write owner/repo#number and read it back', () => {
    const pr = { owner: 'octo-org', repo: 'shop.web', number: 42 }
    expect(formatPullRequest(pr)).toBe('octo-org/shop.web#42')
    expect(parsePullRequest(formatPullRequest(pr))).toEqual(pr)
  })

  it.each([undefined, '', '42', '#42', 'octo/shop', 'octo/shop#', 'octo/shop#0', 'octo/shop#x', 'o/r/x#1', 'octo/shop#42 '])(
    'reads %j as no pull request',
    (text) => {
      expect(parsePullRequest(text)).toBeUndefined()
    },
  )
})

describe('inRepository', () => {
  it('compares owner and name without case, as GitHub does', () => {
    expect(inRepository({ owner: 'Octo', repo: 'Shop', number: 1 }, { owner: 'octo', repo: 'shop' })).toBe(true)
    expect(inRepository({ owner: 'octo', repo: 'shop-2', number: 1 }, { owner: 'octo', repo: 'shop' })).toBe(false)
  })
})

describe('runUrlOf', () => {
  it('links the workflow run on a runner, and nothing elsewhere', () => {
    expect(runUrlOf({ GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'o/r', GITHUB_RUN_ID: '9' })).toBe('https://github.com/o/r/actions/runs/9')
    expect(runUrlOf({ GITHUB_REPOSITORY: 'o/r' })).toBeUndefined()
  })
})
