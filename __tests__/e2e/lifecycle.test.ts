import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  IMAGES,
  LABEL_DEPLOYMENT,
  distinctAnswers,
  docker,
  explain,
  localInputs,
  objectsOf,
  removeDeployment,
  runAction,
  startAction,
  uniquePrefix,
  type ActionRun,
  sleep,
} from './harness'
import { GitHubOnLoopback } from './fake-github'

// A preview environment's life beyond one deploy: runs of one deployment that overlap, the
// lock a dead run left behind, and the scheduled prune of old deployments.

const LABEL_ROLE = 'io.github.vic-lb-action.role'
const LABEL_CREATED = 'io.github.vic-lb-action.created'
const LABEL_HOLDER = 'io.github.vic-lb-action.holder'
const LABEL_OPERATION = 'io.github.vic-lb-action.operation'
const LABEL_PR = 'io.github.vic-lb-action.pr'

const created: string[] = []
const unlabelled: string[] = []
afterAll(() => {
  created.forEach(removeDeployment)
  if (unlabelled.length > 0) docker('rm', '-f', ...unlabelled)
})

function instancesOf(run: ActionRun): string[] {
  return JSON.parse(run.outputs.instances) as string[]
}

// A lock as a run that died would leave it: never started, labelled, taken long ago.
function leaveStaleLock(prefix: string, holder: string): void {
  docker(
    'create',
    '--name',
    `${prefix}-lock`,
    '--label',
    `${LABEL_DEPLOYMENT}=${prefix}`,
    '--label',
    `${LABEL_ROLE}=lock`,
    '--label',
    `${LABEL_CREATED}=2000-01-01T00:00:00.000Z`,
    '--label',
    `${LABEL_HOLDER}=${holder}`,
    '--label',
    `${LABEL_OPERATION}=deploy`,
    IMAGES.haproxy,
    'never-started',
  )
}

describe('two runs of one deployment at once', () => {
  const prefix = uniquePrefix('lock')
  created.push(prefix)

  it('run one after the other: the second waits, and one generation with the later count serves', async () => {
    const inputs = await localInputs(prefix)
    const runs = await Promise.all([runAction({ ...inputs, instances: '2' }), runAction({ ...inputs, instances: '3' })])
    for (const run of runs) expect(run.code, explain(run)).toBe(0)

    // The run that found the lock taken says it waited, however soon the other released it (on a
    // slow host, as the other ended: before it could say for whom); nobody took a lock over.
    const waiters = runs.filter((run) => new RegExp(`Took the lock ${prefix}-lock after waiting \\d+ s`).test(run.stdout))
    expect(waiters, runs.map(explain).join('\n=====\n')).toHaveLength(1)
    for (const run of runs) expect(run.stdout + run.stderr).not.toContain('Taking over')
    const [last] = waiters

    // The run that waited deployed last: its count is what is left, all of one generation.
    const names = instancesOf(last)
    expect([2, 3]).toContain(names.length)
    const generations = new Set(names.map((n) => n.slice(prefix.length + 1).split('-')[0]))
    expect(generations.size).toBe(1)
    expect(objectsOf(prefix)).toEqual([...names, `${prefix}-lb`, `${prefix}-net`].sort())
    expect((await distinctAnswers(last.outputs.url, 40)).size).toBe(names.length)
  })

  it('tears down completely, lock included', async () => {
    const run = await runAction({ command: 'teardown', 'instance-prefix': prefix, 'haproxy-image': IMAGES.haproxy })
    expect(run.code, explain(run)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
  })
})

describe('a lock left behind by a run that died', () => {
  const prefix = uniquePrefix('stale')
  created.push(prefix)

  it('is taken over by the next deploy, with a warning naming the dead run', async () => {
    leaveStaleLock(prefix, 'run 1234/1 of octo/shop')
    const run = await runAction(await localInputs(prefix, { instances: '2' }))
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toMatch(
      new RegExp(
        `::warning::Taking over the lock ${prefix}-lock of deployment '${prefix}': it was taken for the deploy started at 2000-01-01T00:00:00.000Z by run 1234/1 of octo/shop`,
      ),
    )
    expect(objectsOf(prefix)).not.toContain(`${prefix}-lock`)
    expect((await distinctAnswers(run.outputs.url)).size).toBe(2)
  })

  it('is taken over by teardown, which leaves nothing', async () => {
    leaveStaleLock(prefix, 'run 1235/1 of octo/shop')
    const run = await runAction({ command: 'teardown', 'instance-prefix': prefix, 'haproxy-image': IMAGES.haproxy })
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain(`::warning::Taking over the lock ${prefix}-lock`)
    expect(objectsOf(prefix)).toEqual([])
  })
})

describe('prune', () => {
  const base = uniquePrefix('prune')
  const old = `${base}-old`
  const fresh = `${base}-fresh`
  // Matches no pattern prune is given below, and is older than any max-age.
  const other = uniquePrefix('keep')
  created.push(old, fresh, other)
  const stranger = `${base}-stranger`
  unlabelled.push(stranger)

  it('removes the deployments older than max-age, keeps the fresh one and never touches anything else', async () => {
    docker('run', '-d', '--name', stranger, IMAGES.web1)
    docker(
      'create',
      '--name',
      `${other}-by-hand`,
      '--label',
      `${LABEL_DEPLOYMENT}=${other}`,
      '--label',
      `${LABEL_CREATED}=2000-01-01T00:00:00.000Z`,
      IMAGES.web1,
    )

    const first = await runAction(await localInputs(old, { instances: '1' }))
    expect(first.code, explain(first)).toBe(0)
    await sleep(11_000)
    const second = await runAction(await localInputs(fresh, { instances: '1' }))
    expect(second.code, explain(second)).toBe(0)
    const freshObjects = objectsOf(fresh)

    const run = await runAction({ command: 'prune', 'instance-prefix': `${base}-*`, 'max-age': '10s', 'haproxy-image': IMAGES.haproxy })
    expect(run.code, explain(run)).toBe(0)
    expect(objectsOf(old)).toEqual([])
    expect(objectsOf(fresh)).toEqual(freshObjects)
    expect((await distinctAnswers(second.outputs.url, 5)).size).toBe(1)
    expect(objectsOf(other)).toEqual([`${other}-by-hand`])
    expect(docker('inspect', '-f', '{{.State.Running}}', stranger)).toBe('true')

    expect(run.stdout).toMatch(new RegExp(`Deployments matching '${base}-\\*': 2; 0 of other owners and \\d+ other\\(s\\) on the Docker host left alone\\.`))
    expect(run.stdout).toMatch(new RegExp(`Removed 1:\\n  ${old}: last changed \\d+s ago, longer than max-age 10s\\n`))
    expect(run.stdout).toMatch(new RegExp(`Kept 1:\\n  ${fresh}: last changed \\d+s ago, within max-age 10s\\n`))
    expect(run.summary).toContain(old)
    expect(run.summary).toContain(fresh)
  })

  it('refuses to run without instance-prefix, asking for a pattern, before touching the Docker host', async () => {
    const run = await runAction({ command: 'prune', 'max-age': '1s' })
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toContain("::error::Input 'instance-prefix' is required for prune")
    expect(run.stdout).toContain("e.g. 'pr-*'")
    expect(run.stdout).not.toContain('Connect to the Docker host')
  })

  it('refuses a malformed max-age before touching the Docker host', async () => {
    const run = await runAction({ command: 'prune', 'instance-prefix': `${base}-*`, 'max-age': '10 seconds' })
    expect(run.code).toBe(1)
    expect(run.stdout).toContain("::error::Invalid max-age '10 seconds'")
    expect(run.stdout).not.toContain('Connect to the Docker host')
  })
})

describe('on a pull request, with a GitHub API on this machine', () => {
  const github = new GitHubOnLoopback()
  const prefix = uniquePrefix('pr')
  const other = uniquePrefix('pr')
  created.push(prefix, other)
  let inputs: Record<string, string>

  beforeAll(async () => {
    await github.start()
    inputs = await localInputs(prefix, { instances: '2', 'github-token': 'test-token' })
  })
  afterAll(() => github.close())

  it('comments once with the URL, the image and each instance, and labels the objects with the pull request', async () => {
    const run = await runAction(inputs, github.onPullRequest(42))
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain('Commented on pull request octo/shop#42: https://github.example/octo/shop/pull/42#issuecomment-')
    const [comment, ...more] = github.commentsOn(42)
    expect(more).toEqual([])
    expect(comment.body).toMatch(new RegExp(`^<!-- vic-lb-action:deployment=${prefix} -->\n`))
    expect(comment.body).toContain(`**URL:** ${run.outputs.url}`)
    expect(comment.body).toContain(IMAGES.web1)
    for (const name of instancesOf(run)) expect(comment.body).toMatch(new RegExp(`\\| \`${name}\` \\| UP \\(last check: L\\dOK\\) \\|`))
    expect(comment.body).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by \[this run\]\(https:\/\/github\.example\/octo\/shop\/actions\/runs\/777\)/)
    expect(docker('inspect', '-f', `{{index .Config.Labels "${LABEL_PR}"}}`, `${prefix}-lb`)).toBe('octo/shop#42')
    expect(objectsOf(prefix)).not.toContain(`${prefix}-lock`)
  })

  it('updates that same comment on the next deploy', async () => {
    const [before] = github.commentsOn(42)
    const run = await runAction({ ...inputs, instances: '3' }, github.onPullRequest(42))
    expect(run.code, explain(run)).toBe(0)
    expect(github.commentsOn(42).map((c) => c.id)).toEqual([before.id])
    for (const name of instancesOf(run)) expect(github.commentsOn(42)[0].body).toContain(name)
    expect(github.requests.filter((r) => r.startsWith('POST /repos/octo/shop/issues/'))).toHaveLength(1)
    expect(github.requests).toContain(`PATCH /repos/octo/shop/issues/comments/${before.id}`)
  })

  it('waits for the lock of a workflow run in progress, and takes it over once GitHub says that run has completed', async () => {
    const deployment = uniquePrefix('runlock')
    created.push(deployment)
    const label = (name: string, value: string) => ['--label', `${LABEL_DEPLOYMENT.replace('deployment', name)}=${value}`]
    // The lock as a run 555 on another runner left it: no process here to check.
    docker(
      'create',
      '--name',
      `${deployment}-lock`,
      ...label('deployment', deployment),
      ...label('role', 'lock'),
      ...label('holder', 'run 555/1 of octo/shop'),
      ...label('holder-run', 'octo/shop 555 1'),
      IMAGES.haproxy,
      'never-started',
    )
    const teardown = { command: 'teardown', 'instance-prefix': deployment, 'haproxy-image': IMAGES.haproxy, 'github-token': 'test-token' }
    github.runStatus[555] = 'in_progress'
    const begun = Date.now()
    const waiting = startAction({ ...teardown, 'wait-timeout': '120' }, github.runEnv({}))
    await new Promise((resolve) => setTimeout(resolve, 4_000))
    // A run in progress holds its lock: the teardown waits.
    expect(waiting.child.exitCode, waiting.output()).toBeNull()
    expect(waiting.output()).toContain('Waiting for the deploy of')
    expect(objectsOf(deployment)).toEqual([`${deployment}-lock`])
    expect(github.requests).toContain('GET /repos/octo/shop/actions/runs/555/attempts/1')

    // Completed: the teardown asks again (every 10 s) and takes the lock over.
    github.runStatus[555] = 'completed'
    const taken = await waiting.finished
    expect(taken.code, explain(taken)).toBe(0)
    expect(Date.now() - begun).toBeLessThan(20_000)
    expect(taken.stdout).toContain('by run 555/1 of octo/shop, whose workflow run has completed.')
    expect(objectsOf(deployment)).toEqual([])
  })

  it('says in the comment that the environment is gone after teardown', async () => {
    const run = await runAction(
      { command: 'teardown', 'instance-prefix': prefix, 'haproxy-image': IMAGES.haproxy, 'github-token': 'test-token' },
      github.runEnv({ action: 'closed', number: 42, pull_request: { number: 42 } }),
    )
    expect(run.code, explain(run)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
    const [comment, ...more] = github.commentsOn(42)
    expect(more).toEqual([])
    expect(comment.body).toContain(`Preview environment \`${prefix}\`: removed`)
    expect(comment.body).toContain('(teardown)')
  })

  it('lets a scheduled prune remove the deployment of a closed pull request, however fresh, and say so on it and on its GitHub deployment', async () => {
    const head = 'a'.repeat(40)
    const deployed = await runAction(inputs, github.onPullRequest(42, head))
    expect(deployed.code, explain(deployed)).toBe(0)
    github.pullStates[42] = 'closed'
    const run = await runAction(
      { command: 'prune', 'instance-prefix': prefix, 'haproxy-image': IMAGES.haproxy, 'github-token': 'test-token' },
      github.runEnv({ schedule: '17 3 * * *' }),
    )
    expect(run.code, explain(run)).toBe(0)
    expect(github.requests).toContain('GET /repos/octo/shop/pulls/42')
    expect(run.stdout).toContain(`Removed 1:\n  ${prefix}: pull request octo/shop#42 is closed`)
    expect(objectsOf(prefix)).toEqual([])
    expect(github.commentsOn(42)).toHaveLength(1)
    expect(github.commentsOn(42)[0].body).toContain('pruned: pull request octo/shop#42 is closed')
    expect(github.deploymentsIn('preview')).toEqual([`deploy:${prefix} ${head}: in_progress, success, inactive`])
  })

  it('deploys all the same when GitHub refuses the comment, with a warning saying why', async () => {
    github.refuseComments.add(43)
    const run = await runAction(await localInputs(other, { instances: '1', 'github-token': 'test-token' }), github.onPullRequest(43))
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toMatch(
      new RegExp(`::warning::Could not comment on pull request octo/shop#43 about deployment '${other}': Resource not accessible by integration`),
    )
    expect((await distinctAnswers(run.outputs.url, 3)).size).toBe(1)
  })
})
