import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'

// A deployment as the action created it, with everything it sent.
export interface FakeDeployment extends Record<string, unknown> {
  id: number
  sha: string
  task: string
  environment: string
  statuses: ({ id: number; state: string } & Record<string, unknown>)[]
}

// The GitHub REST calls the action makes, answered on this machine: the bundled Octokit talks to
// it through GITHUB_API_URL exactly as it would to api.github.com.
export class GitHubOnLoopback {
  comments: { id: number; issue: number; body: string }[] = []
  pullStates: Record<number, string> = {}
  refuseComments = new Set<number>()
  // Workflow runs of octo/shop by ID: queued, in_progress, completed.
  runStatus: Record<number, string> = {}
  // Deployments of octo/shop, oldest first; each one's statuses oldest first.
  deployments: FakeDeployment[] = []
  refuseDeployments = false
  requests: string[] = []
  private server = http.createServer((req, res) => void this.handle(req, res))
  private nextId = 500
  private url = ''
  private eventDir = ''

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    this.eventDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-event-'))
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    fs.rmSync(this.eventDir, { recursive: true, force: true })
  }

  // The environment of a workflow run of octo/shop, for the given event, talking to this API.
  runEnv(payload: unknown): Record<string, string> {
    const eventPath = path.join(this.eventDir, `event-${Math.random().toString(36).slice(2)}.json`)
    fs.writeFileSync(eventPath, JSON.stringify(payload))
    return {
      GITHUB_API_URL: this.url,
      GITHUB_SERVER_URL: 'https://github.example',
      GITHUB_REPOSITORY: 'octo/shop',
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_RUN_ID: '777',
      GITHUB_RUN_ATTEMPT: '1',
    }
  }

  // A push to pull request `number`, whose head is `head` when given.
  onPullRequest(number: number, head?: string): Record<string, string> {
    return this.runEnv({ action: 'synchronize', number, pull_request: { number, ...(head ? { head: { sha: head } } : {}) } })
  }

  // Each deployment of the environment as `task sha: state, state, ...`, oldest first.
  deploymentsIn(environment: string): string[] {
    return this.deployments.filter((d) => d.environment === environment).map((d) => `${d.task} ${d.sha}: ${d.statuses.map((s) => s.state).join(', ')}`)
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
    const input = text ? (JSON.parse(text) as { body?: string } & Record<string, unknown>) : {}
    const onIssue = /^\/repos\/octo\/shop\/issues\/(\d+)\/comments$/.exec(url.pathname)
    const comment = /^\/repos\/octo\/shop\/issues\/comments\/(\d+)$/.exec(url.pathname)
    const pull = /^\/repos\/octo\/shop\/pulls\/(\d+)$/.exec(url.pathname)
    const deployments = /^\/repos\/octo\/shop\/deployments$/.test(url.pathname)
    const statuses = /^\/repos\/octo\/shop\/deployments\/(\d+)\/statuses$/.exec(url.pathname)
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
    if (deployments || statuses) return this.handleDeployments(req.method, url, input, statuses ? Number(statuses[1]) : undefined, reply)
    if (pull && req.method === 'GET') return reply(200, { number: Number(pull[1]), state: this.pullStates[Number(pull[1])] ?? 'open' })
    if (runAttempt && req.method === 'GET' && this.runStatus[Number(runAttempt[1])])
      return reply(200, { id: Number(runAttempt[1]), run_attempt: Number(runAttempt[2]), status: this.runStatus[Number(runAttempt[1])] })
    reply(404, { message: 'Not Found' })
  }

  // GitHub's deployments API as far as the action uses it: lists newest first, filtered as asked.
  private handleDeployments(
    method: string | undefined,
    url: URL,
    input: Record<string, unknown>,
    id: number | undefined,
    reply: (status: number, body: unknown) => void,
  ): void {
    if (this.refuseDeployments) return reply(403, { message: 'Resource not accessible by integration' })
    const perPage = Number(url.searchParams.get('per_page') ?? 30)
    const newestFirst = <T>(items: T[]) => [...items].reverse().slice(0, perPage)
    if (id === undefined && method === 'GET') {
      const filter = (name: string, value: string) => !url.searchParams.has(name) || url.searchParams.get(name) === value
      return reply(200, newestFirst(this.deployments.filter((d) => filter('sha', d.sha) && filter('task', d.task) && filter('environment', d.environment))))
    }
    if (id === undefined && method === 'POST') {
      const deployment = { ...input, id: this.nextId++, sha: String(input.ref), task: String(input.task), environment: String(input.environment), statuses: [] }
      this.deployments.push(deployment)
      return reply(201, deployment)
    }
    const deployment = this.deployments.find((d) => d.id === id)
    if (!deployment) return reply(404, { message: 'Not Found' })
    if (method === 'GET') return reply(200, newestFirst(deployment.statuses))
    if (method === 'POST') {
      const status = { ...input, id: this.nextId++, state: String(input.state) }
      deployment.statuses.push(status)
      return reply(201, status)
    }
    reply(404, { message: 'Not Found' })
  }
}
