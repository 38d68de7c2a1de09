import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IMAGES, explain, localInputs, objectsOf, removeDeployment, runAction, runPost, startAction, uniquePrefix, until } from './harness'
import { GitHubOnLoopback } from './fake-github'

// GitHub Deployments of pull request deploys, against a GitHub API on this machine: one
// deployment per commit, in progress then success with the URL (or failure), a re-run adding to it,
// and inactive once replaced or torn down. Other pull requests' deployments in the shared
// environment are never touched.

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

const HEAD1 = '1'.repeat(40)
const HEAD2 = '2'.repeat(40)
const HEAD3 = '3'.repeat(40)
const RUN_URL = 'https://github.example/octo/shop/actions/runs/777'

describe('GitHub Deployments of a pull request, with a GitHub API on this machine', () => {
  const github = new GitHubOnLoopback()
  const prefix = uniquePrefix('ghd')
  const task = `deploy:${prefix}`
  // Another pull request's deployment in the same environment, which no run here may change.
  const otherPullRequest = `deploy:${prefix}-other ${'9'.repeat(40)}: success`
  created.push(prefix)
  let inputs: Record<string, string>

  beforeAll(async () => {
    await github.start()
    github.deployments.push({ id: 1, sha: '9'.repeat(40), task: `deploy:${prefix}-other`, environment: 'preview', statuses: [{ id: 2, state: 'success' }] })
    inputs = await localInputs(prefix, { instances: '2', 'github-token': 'test-token' })
  })
  afterAll(() => github.close())

  it("records the deploy as one transient deployment of the pull request's head: in progress, then success with the URL and the run", async () => {
    const run = await runAction(inputs, github.onPullRequest(51, HEAD1))
    expect(run.code, explain(run)).toBe(0)
    expect(github.deploymentsIn('preview')).toEqual([otherPullRequest, `${task} ${HEAD1}: in_progress, success`])
    const deployment = github.deployments[1]
    expect(deployment).toMatchObject({ transient_environment: true, production_environment: false, auto_merge: false, required_contexts: [] })
    expect(deployment.statuses[1]).toMatchObject({ environment_url: run.outputs.url, log_url: RUN_URL, auto_inactive: false })
    expect(run.stdout).toContain(`GitHub deployment ${deployment.id} of ${HEAD1.slice(0, 12)} in environment 'preview': in progress`)
  })

  it('adds to that deployment when the same commit is deployed again', async () => {
    const run = await runAction(inputs, github.onPullRequest(51, HEAD1))
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain('Unchanged')
    expect(github.deploymentsIn('preview')).toEqual([otherPullRequest, `${task} ${HEAD1}: in_progress, success, in_progress, success`])
  })

  it("creates a deployment for a new commit and makes the pull request's previous one inactive", async () => {
    const run = await runAction({ ...inputs, instances: '3' }, github.onPullRequest(51, HEAD2))
    expect(run.code, explain(run)).toBe(0)
    expect(github.deploymentsIn('preview')).toEqual([
      otherPullRequest,
      `${task} ${HEAD1}: in_progress, success, in_progress, success, inactive`,
      `${task} ${HEAD2}: in_progress, success`,
    ])
  })

  it('ends a failed deploy in failure with the reason, and the deployment that still serves stays active', async () => {
    const run = await runAction({ ...inputs, image: 'vic-lb-test/absent:1' }, github.onPullRequest(51, HEAD3))
    expect(run.code, explain(run)).toBe(1)
    expect(github.deploymentsIn('preview').slice(2)).toEqual([`${task} ${HEAD2}: in_progress, success`, `${task} ${HEAD3}: in_progress, failure`])
    expect(github.deployments.at(-1)!.statuses[1].description).toMatch(/^Could not pull image vic-lb-test\/absent:1/)
  })

  it('ends a cancelled deploy in failure, saying it was cancelled', async () => {
    // An instance port nothing listens on: the deploy waits for readiness until cancelled.
    const started = startAction({ ...inputs, 'instance-port': '9999' }, github.onPullRequest(51, HEAD3))
    await until('the readiness wait', () => started.output().includes('::group::Wait until every instance serves'))
    started.child.kill('SIGINT')
    const run = await started.finished
    expect(run.code, explain(run)).toBe(1)
    expect(github.deploymentsIn('preview').at(-1)).toBe(`${task} ${HEAD3}: in_progress, failure, in_progress, failure`)
    expect(github.deployments.at(-1)!.statuses[3].description).toMatch(/^The run was cancelled \(SIGINT\)/)
  })

  it('lets the post step end the deployment of a killed main step in failure', async () => {
    const env = github.onPullRequest(51, HEAD3)
    const started = startAction({ ...inputs, 'instance-port': '9999' }, env)
    await until('the readiness wait', () => started.output().includes('::group::Wait until every instance serves'))
    started.child.kill('SIGKILL')
    const killed = await started.finished
    expect(github.deploymentsIn('preview').at(-1)).toMatch(/failure, in_progress$/)
    const post = await runPost(inputs, killed.state, env)
    expect(post.code, explain(post)).toBe(0)
    expect(github.deploymentsIn('preview').at(-1)).toBe(`${task} ${HEAD3}: in_progress, failure, in_progress, failure, in_progress, failure`)
    expect(github.deployments.at(-1)!.statuses[5].description).toMatch(/^The run was stopped before the deploy finished/)
  })

  it('makes every active deployment of the pull request inactive on teardown', async () => {
    const run = await runAction(
      { command: 'teardown', 'instance-prefix': prefix, 'haproxy-image': IMAGES.haproxy, 'github-token': 'test-token' },
      github.runEnv({ action: 'closed', number: 51, pull_request: { number: 51, head: { sha: HEAD3 } } }),
    )
    expect(run.code, explain(run)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
    expect(github.deploymentsIn('preview')).toEqual([
      otherPullRequest,
      `${task} ${HEAD1}: in_progress, success, in_progress, success, inactive`,
      `${task} ${HEAD2}: in_progress, success, inactive`,
      `${task} ${HEAD3}: in_progress, failure, in_progress, failure, in_progress, failure, inactive`,
    ])
    expect(run.stdout).toContain(`Marked 2 GitHub deployment(s) of '${prefix}' in environment 'preview' inactive`)
  })

  it('deploys all the same when GitHub refuses deployments, with one warning naming the permission', async () => {
    const refused = uniquePrefix('ghd')
    created.push(refused)
    github.refuseDeployments = true
    const run = await runAction(
      await localInputs(refused, { instances: '1', 'github-token': 'test-token', environment: 'pr-52' }),
      github.onPullRequest(52, HEAD1),
    )
    expect(run.code, explain(run)).toBe(0)
    const warnings = run.stdout.split('\n').filter((line) => line.startsWith('::warning::Could not record the GitHub deployment'))
    expect(warnings).toEqual([
      `::warning::Could not record the GitHub deployment of '${refused}' in environment 'pr-52': Resource not accessible by integration. The deployment itself is not affected; to record it, add \`deployments: write\` to the job's permissions.`,
    ])
    // The token only in the command that masks it.
    expect(run.stdout.split('\n').filter((line) => line.includes('test-token') && !line.startsWith('::add-mask::'))).toEqual([])
  })
})
