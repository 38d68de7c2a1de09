import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
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

    const waitedFor = new RegExp(`Waiting for the deploy of '${prefix}' started at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z by .+ \\(waited \\d+ s of at most 60 s\\)`)
    const waiters = runs.filter((run) => waitedFor.test(run.stdout))
    expect(waiters, runs.map(explain).join('\n=====\n')).toHaveLength(1)
    const [last] = waiters
    expect(last.stdout).toMatch(new RegExp(`Took the lock ${prefix}-lock after waiting`))

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

// The GitHub REST calls the action makes, answered on this machine: the bundled Octokit talks to
// it through GITHUB_API_URL exactly as it would to api.github.com.
class GitHubOnLoopback {
  comments: { id: number; issue: number; body: string }[] = []
  pullStates: Record<number, string> = {}
  refuseComments = new Set<number>()
  // Workflow runs of octo/shop by ID: queued, in_progress, completed.
  runStatus: Record<number, string> = {}
  requests: string[] = []
  private server = http.createServer((req, res) => void this.handle(req, res))
  private nextId = 500

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  commentsOn(issue: number): { id: number; body: string }[] {
    return this.comments.filter((c) => c.issue === issue)
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let text = ''
    for await (const chunk of req) text += chunk
    const url = new URL(req.url ?? '/', 'http://localhost')
    this.requests.push(`${req.method} ${url.pathname}`)
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (!String(req.headers.authorization).endsWith(' test-token')) return reply(401, { message: 'Bad credentials' })
    const input = text ? (JSON.parse(text) as { body?: string }) : {}
    const onIssue = /^\/repos\/octo\/shop\/issues\/(\d+)\/comments$/.exec(url.pathname)
    const comment = /^\/repos\/octo\/shop\/issues\/comments\/(\d+)$/.exec(url.pathname)
    const pull = /^\/repos\/octo\/shop\/pulls\/(\d+)$/.exec(url.pathname)
    const runAttempt = /^\/repos\/octo\/shop\/actions\/runs\/(\d+)\/attempts\/(\d+)$/.exec(url.pathname)
    const view = (c: { id: number; issue: number; body: string }) => ({
      id: c.id,
      body: c.body,
      html_url: `https://github.example/octo/shop/pull/${c.issue}#issuecomment-${c.id}`,
    })
    if (onIssue && req.method === 'GET') {
      const perPage = Number(url.searchParams.get('per_page') ?? 30)
      const page = Number(url.searchParams.get('page') ?? 1)
      return reply(
        200,
        this.commentsOn(Number(onIssue[1]))
          .slice((page - 1) * perPage, page * perPage)
          .map((c) => view({ ...c, issue: Number(onIssue[1]) })),
      )
    }
    if (onIssue && req.method === 'POST') {
      const issue = Number(onIssue[1])
      if (this.refuseComments.has(issue)) return reply(403, { message: 'Resource not accessible by integration' })
      const created = { id: this.nextId++, issue, body: input.body ?? '' }
      this.comments.push(created)
      return reply(201, view(created))
    }
    if (comment && req.method === 'PATCH') {
      const found = this.comments.find((c) => c.id === Number(comment[1]))
      if (!found) return reply(404, { message: 'Not Found' })
      found.body = input.body ?? ''
      return reply(200, view(found))
    }
    if (pull && req.method === 'GET') return reply(200, { number: Number(pull[1]), state: this.pullStates[Number(pull[1])] ?? 'open' })
    if (runAttempt && req.method === 'GET' && this.runStatus[Number(runAttempt[1])])
      return reply(200, { id: Number(runAttempt[1]), run_attempt: Number(runAttempt[2]), status: this.runStatus[Number(runAttempt[1])] })
    reply(404, { message: 'Not Found' })
  }
}

describe('on a pull request, with a GitHub API on this machine', () => {
  const github = new GitHubOnLoopback()
  const prefix = uniquePrefix('pr')
  const other = uniquePrefix('pr')
  created.push(prefix, other)
  const eventDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-event-'))
  let apiUrl = ''
  let inputs: Record<string, string>

  // The environment of a workflow run of octo/shop, for the given event.
  function runEnv(payload: unknown): Record<string, string> {
    const eventPath = path.join(eventDir, `event-${Math.random().toString(36).slice(2)}.json`)
    fs.writeFileSync(eventPath, JSON.stringify(payload))
    return {
      GITHUB_API_URL: apiUrl,
      GITHUB_SERVER_URL: 'https://github.example',
      GITHUB_REPOSITORY: 'octo/shop',
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_RUN_ID: '777',
      GITHUB_RUN_ATTEMPT: '1',
    }
  }
  const onPullRequest = (number: number) => runEnv({ action: 'synchronize', number, pull_request: { number } })

  beforeAll(async () => {
    apiUrl = await github.start()
    inputs = await localInputs(prefix, { instances: '2', 'github-token': 'test-token' })
  })
  afterAll(async () => {
    await github.close()
    fs.rmSync(eventDir, { recursive: true, force: true })
  })

  it('comments once with the URL, the image and each instance, and labels the objects with the pull request', async () => {
    const run = await runAction(inputs, onPullRequest(42))
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
    const run = await runAction({ ...inputs, instances: '3' }, onPullRequest(42))
    expect(run.code, explain(run)).toBe(0)
    expect(github.commentsOn(42).map((c) => c.id)).toEqual([before.id])
    for (const name of instancesOf(run)) expect(github.commentsOn(42)[0].body).toContain(name)
    expect(github.requests.filter((r) => r.startsWith('POST'))).toHaveLength(1)
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
    const waiting = startAction({ ...teardown, 'wait-timeout': '120' }, runEnv({}))
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
      runEnv({ action: 'closed', number: 42, pull_request: { number: 42 } }),
    )
    expect(run.code, explain(run)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
    const [comment, ...more] = github.commentsOn(42)
    expect(more).toEqual([])
    expect(comment.body).toContain(`Preview environment \`${prefix}\`: removed`)
    expect(comment.body).toContain('(teardown)')
  })

  it('lets a scheduled prune remove the deployment of a closed pull request, however fresh, and say so on it', async () => {
    const deployed = await runAction(inputs, onPullRequest(42))
    expect(deployed.code, explain(deployed)).toBe(0)
    github.pullStates[42] = 'closed'
    const run = await runAction(
      { command: 'prune', 'instance-prefix': prefix, 'haproxy-image': IMAGES.haproxy, 'github-token': 'test-token' },
      runEnv({ schedule: '17 3 * * *' }),
    )
    expect(run.code, explain(run)).toBe(0)
    expect(github.requests).toContain('GET /repos/octo/shop/pulls/42')
    expect(run.stdout).toContain(`Removed 1:\n  ${prefix}: pull request octo/shop#42 is closed`)
    expect(objectsOf(prefix)).toEqual([])
    expect(github.commentsOn(42)).toHaveLength(1)
    expect(github.commentsOn(42)[0].body).toContain('pruned: pull request octo/shop#42 is closed')
  })

  it('deploys all the same when GitHub refuses the comment, with a warning saying why', async () => {
    github.refuseComments.add(43)
    const run = await runAction(await localInputs(other, { instances: '1', 'github-token': 'test-token' }), onPullRequest(43))
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toMatch(
      new RegExp(`::warning::Could not comment on pull request octo/shop#43 about deployment '${other}': Resource not accessible by integration`),
    )
    expect((await distinctAnswers(run.outputs.url, 3)).size).toBe(1)
  })
})
