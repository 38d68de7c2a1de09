import { describe, expect, it, vi } from 'vitest'
import {
  currentEnvironment,
  deploymentTask,
  recordDeployment,
  recordInterrupted,
  recordRemoved,
  retireDeployments,
  statusDescription,
} from '../src/github/deployments'
import type { GitHubEnvironment } from '../src/github/api'
import { FakeGitHub, recorder } from './fake-github-api'
import { log } from '../src/log'

// What the post step would be left, should the run be killed.
const state = vi.hoisted(() => ({ pending: [] as unknown[] }))
vi.mock('../src/state-helper', () => ({ rememberGitHubDeployment: (pending: unknown) => state.pending.push(pending) }))

const preview: GitHubEnvironment = {
  owner: 'octo',
  repo: 'shop',
  environment: 'preview',
  deployment: 'shop-pr-42',
  logUrl: 'https://github.com/octo/shop/actions/runs/99',
}
const otherPullRequest: GitHubEnvironment = { ...preview, deployment: 'shop-pr-43' }
const SHA1 = 'a'.repeat(40)
const SHA2 = 'b'.repeat(40)

describe('deploymentTask and statusDescription', () => {
  it("name the deployment on the Docker host in GitHub's task", () => {
    expect(deploymentTask('shop-pr-42')).toBe('deploy:shop-pr-42')
  })

  it('mask the secrets the run registered, as the log does', () => {
    log.setSecret('tcp://vch.internal:2376')
    expect(statusDescription('Lost the Docker host tcp://vch.internal:2376: ECONNRESET')).toBe('Lost the Docker host ***: ECONNRESET')
  })

  it('keep a description within the 140 characters GitHub takes', () => {
    expect(statusDescription('short')).toBe('short')
    const long = statusDescription('x'.repeat(500))
    expect(long).toHaveLength(140)
    expect(long.endsWith('…')).toBe(true)
  })
})

describe('currentEnvironment', () => {
  it("is the run's repository with the environment, the deployment and the run's page", () => {
    const env = { GITHUB_REPOSITORY: 'octo/shop', GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '99' }
    expect(currentEnvironment('preview', 'shop-pr-42', env)).toEqual(preview)
  })

  it('is undefined outside a workflow run', () => {
    expect(currentEnvironment('preview', 'shop-pr-42', {})).toBeUndefined()
  })
})

describe('recordDeployment', () => {
  it('creates one transient, non-production deployment of the commit, in progress, then success with the URL and the run', async () => {
    const github = new FakeGitHub()
    const log = recorder()
    const record = await recordDeployment(github, preview, SHA1, log)
    await record.ready('http://10.0.0.5:8080')
    const [deployment, ...more] = github.deployments
    expect(more).toEqual([])
    expect(deployment).toMatchObject({
      ref: SHA1,
      task: 'deploy:shop-pr-42',
      environment: 'preview',
      transient: true,
      production: false,
      autoMerge: false,
      requiredContexts: [],
    })
    expect(deployment.statuses).toEqual([
      expect.objectContaining({ state: 'in_progress', log_url: preview.logUrl, auto_inactive: false }),
      expect.objectContaining({ state: 'success', environment_url: 'http://10.0.0.5:8080', log_url: preview.logUrl, auto_inactive: false }),
    ])
    expect(log.infos).toEqual([
      `GitHub deployment ${deployment.id} of ${SHA1.slice(0, 12)} in environment 'preview': in progress`,
      `GitHub deployment ${deployment.id}: success`,
    ])
    expect(log.warnings).toEqual([])
  })

  it('leaves the deployment in progress to the post step until it is told how the deploy ended', async () => {
    const github = new FakeGitHub()
    state.pending = []
    const record = await recordDeployment(github, preview, SHA1, recorder())
    const { id } = github.deployments[0]
    expect(state.pending).toEqual([{ ...preview, id }])
    await record.failed('broken')
    expect(state.pending).toEqual([{ ...preview, id }, undefined])
  })

  it('adds to the deployment of the same commit on a re-run instead of creating another', async () => {
    const github = new FakeGitHub()
    await (await recordDeployment(github, preview, SHA1, recorder())).ready('http://a')
    await (await recordDeployment(github, preview, SHA1, recorder())).ready('http://a')
    expect(github.deployments).toHaveLength(1)
    expect(github.statesOf()).toEqual({ [github.deployments[0].id]: ['in_progress', 'success', 'in_progress', 'success'] })
  })

  it("makes this deployment's older GitHub deployments inactive on success, and leaves other pull requests' in the same environment alone", async () => {
    const github = new FakeGitHub()
    await (await recordDeployment(github, otherPullRequest, SHA1, recorder())).ready('http://other')
    await (await recordDeployment(github, preview, SHA1, recorder())).ready('http://a')
    const pushed = await recordDeployment(github, preview, SHA2, recorder())
    const [other, first, second] = github.deployments.map((d) => d.id)
    // In progress, the deployment that serves is still the active one.
    expect(github.statesOf()[first]).toEqual(['in_progress', 'success'])
    await pushed.ready('http://a')
    expect(github.statesOf()).toEqual({
      [other]: ['in_progress', 'success'],
      [first]: ['in_progress', 'success', 'inactive'],
      [second]: ['in_progress', 'success'],
    })
    expect(github.deployments[1].statuses[2].description).toBe(`Replaced by deployment ${second}`)
  })

  it('sets failure with the reason, cut to what GitHub takes', async () => {
    const github = new FakeGitHub()
    const record = await recordDeployment(github, preview, SHA1, recorder())
    await record.failed(`Instance shop-pr-42-1 did not become healthy: ${'because '.repeat(30)}`)
    const [, failure] = github.deployments[0].statuses
    expect(failure.state).toBe('failure')
    expect(failure.description).toMatch(/^Instance shop-pr-42-1 did not become healthy: because/)
    expect(failure.description).toHaveLength(140)
    expect(failure.environment_url).toBeUndefined()
  })

  it('asks nothing without a token, a repository or a commit, and says why at debug level', async () => {
    const github = new FakeGitHub()
    const log = recorder()
    await (await recordDeployment(undefined, preview, SHA1, log)).ready('http://a')
    await (await recordDeployment(github, undefined, SHA1, log)).ready('http://a')
    await (await recordDeployment(github, preview, undefined, log)).failed('x')
    expect(github.calls).toEqual([])
    expect(log.debugs).toEqual([
      'No GitHub deployment: no github-token given.',
      'No GitHub deployment: GITHUB_REPOSITORY is not set.',
      'No GitHub deployment: no commit: neither a pull request nor GITHUB_SHA.',
    ])
  })

  it('turns a refusal into one warning naming the permission, and asks nothing more', async () => {
    const github = new FakeGitHub()
    github.failWith = new Error('Resource not accessible by integration')
    const log = recorder()
    const record = await recordDeployment(github, preview, SHA1, log)
    await record.ready('http://a')
    expect(github.calls).toEqual(['list deployments'])
    expect(log.warnings).toEqual([
      "Could not record the GitHub deployment of 'shop-pr-42' in environment 'preview': Resource not accessible by integration. The deployment itself is not affected; to record it, add `deployments: write` to the job's permissions.",
    ])
  })

  it('warns when a later status is refused, without failing', async () => {
    const github = new FakeGitHub()
    const log = recorder()
    const record = await recordDeployment(github, preview, SHA1, log)
    github.failWith = new Error('Not Found')
    await expect(record.ready('http://a')).resolves.toBeUndefined()
    expect(log.warnings).toEqual([expect.stringContaining(': Not Found. The deployment itself is not affected')])
  })
})

describe('recordInterrupted', () => {
  it('ends the deployment a killed main step left in progress in failure, and warns when GitHub refuses', async () => {
    const github = new FakeGitHub()
    await recordDeployment(github, preview, SHA1, recorder())
    const { id } = github.deployments[0]
    const log = recorder()
    await recordInterrupted(github, { ...preview, id }, log)
    expect(github.statesOf()).toEqual({ [id]: ['in_progress', 'failure'] })
    expect(log.infos).toEqual([`GitHub deployment ${id}: failure`])
    github.failWith = new Error('Not Found')
    await recordInterrupted(github, { ...preview, id }, log)
    expect(log.warnings).toEqual([expect.stringContaining('add `deployments: write`')])
  })
})

describe('recordRemoved and retireDeployments', () => {
  it("make every active GitHub deployment of this deployment inactive, once, and no other pull request's", async () => {
    const github = new FakeGitHub()
    await (await recordDeployment(github, otherPullRequest, SHA1, recorder())).ready('http://other')
    await (await recordDeployment(github, preview, SHA1, recorder())).failed('broken')
    await (await recordDeployment(github, preview, SHA2, recorder())).ready('http://a')
    const [other, first, second] = github.deployments.map((d) => d.id)
    // The failed one was retired by the success after it: teardown retires only what is active.
    expect(github.statesOf()[first]).toEqual(['in_progress', 'failure', 'inactive'])
    const log = recorder()
    await recordRemoved(github, preview, 'teardown', log)
    expect(github.statesOf()).toEqual({
      [other]: ['in_progress', 'success'],
      [first]: ['in_progress', 'failure', 'inactive'],
      [second]: ['in_progress', 'success', 'inactive'],
    })
    expect(github.deployments[2].statuses[2].description).toBe('Removed (teardown)')
    expect(log.infos).toEqual(["Marked 1 GitHub deployment(s) of 'shop-pr-42' in environment 'preview' inactive"])
    expect(await retireDeployments(github, preview, 'again')).toBe(0)
  })

  it('asks nothing without a token or a repository, and warns when GitHub refuses', async () => {
    const github = new FakeGitHub()
    const log = recorder()
    await recordRemoved(undefined, preview, 'teardown', log)
    await recordRemoved(github, undefined, 'teardown', log)
    expect(github.calls).toEqual([])
    github.failWith = new Error('Resource not accessible by integration')
    await recordRemoved(github, preview, 'teardown', log)
    expect(log.warnings).toEqual([expect.stringContaining('add `deployments: write`')])
  })
})
