import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { readInputs } from '../src/inputs'
import { matchesPattern } from '../src/prune'
import { selfSignedPem } from '../test-support/certificate'

// The example workflows are what users copy: they must parse, use only inputs action.yml
// declares, with values the action accepts, and wire up what a preview environment needs.

const root = path.resolve(__dirname, '..')
const ACTION = 'org/vic-lb-action@v1'

interface Step {
  id?: string
  uses?: string
  with?: Record<string, unknown>
}

interface Workflow {
  on: Record<string, { types?: string[] } | unknown[] | null>
  permissions?: Record<string, string>
  concurrency?: { group: string; 'cancel-in-progress'?: boolean }
  jobs: Record<string, { if?: string; environment?: { name: string; url: string }; steps: Step[] }>
}

const declared = Object.keys((parse(readFileSync(path.join(root, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown> }).inputs)

function workflow(file: string): Workflow {
  return parse(readFileSync(path.join(root, 'examples', file), 'utf8')) as Workflow
}

function actionSteps(flow: Workflow): { job: string; step: Step }[] {
  return Object.entries(flow.jobs).flatMap(([job, { steps }]) => steps.filter((s) => s.uses === ACTION).map((step) => ({ job, step })))
}

// What the action would read at run time, with each expression replaced by a plausible value.
const PLAUSIBLE: Record<string, string> = { 'lb-certificate': selfSignedPem() }
function inputsOf(step: Step) {
  const values = Object.fromEntries(
    Object.entries(step.with ?? {}).map(([name, value]) => [name, String(value).replace(/\$\{\{[^}]*\}\}/g, PLAUSIBLE[name] ?? '42')]),
  )
  return readInputs((name) => values[name], { GITHUB_REPOSITORY: 'acme/shop' })
}

describe.each(['pr-preview.yml', 'app-preview.yml', 'scheduled-cleanup.yml'])('examples/%s', (file) => {
  const flow = workflow(file)

  it('uses the action, with only inputs that action.yml declares, and values it accepts', () => {
    const steps = actionSteps(flow)
    expect(steps.length).toBeGreaterThan(0)
    for (const { job, step } of steps) {
      for (const name of Object.keys(step.with ?? {})) expect(declared, `${job} uses undeclared input '${name}'`).toContain(name)
      expect(() => inputsOf(step), job).not.toThrow()
    }
  })

  it('takes the Docker host and its TLS material from secrets, and the token from the workflow', () => {
    for (const { step } of actionSteps(flow)) {
      for (const name of ['docker-host', 'tls-ca-cert', 'tls-cert', 'tls-key']) expect(String(step.with?.[name])).toMatch(/^\$\{\{ secrets\.\w+ \}\}$/)
      expect(step.with?.['github-token']).toBe('${{ github.token }}')
    }
  })

  it('may write pull request comments and GitHub deployments, and ask whether the run holding a lock has completed', () => {
    expect(flow.permissions?.['pull-requests']).toBe('write')
    expect(flow.permissions?.deployments).toBe('write')
    expect(flow.permissions?.actions).toBe('read')
  })
})

describe('examples/pr-preview.yml', () => {
  const flow = workflow('pr-preview.yml')
  const steps = actionSteps(flow)
  const deploy = steps.find(({ step }) => step.with?.command === 'deploy')!
  const teardown = steps.find(({ step }) => step.with?.command === 'teardown')!

  it('runs on the pull request events that open, update, reopen and close it', () => {
    expect((flow.on.pull_request as { types: string[] }).types.sort()).toEqual(['closed', 'opened', 'reopened', 'synchronize'])
  })

  it('deploys unless the pull request was closed, and tears down when it was', () => {
    expect(flow.jobs[deploy.job].if).toBe("github.event.action != 'closed'")
    expect(flow.jobs[teardown.job].if).toBe("github.event.action == 'closed'")
  })

  it('runs one workflow per pull request at a time, without cancelling a deploy half-way', () => {
    expect(flow.concurrency?.group).toContain('${{ github.event.number }}')
    expect(flow.concurrency?.['cancel-in-progress']).toBe(false)
  })

  it('leaves GitHub deployments to the action: a job environment would add a second deployment, and an environment per pull request', () => {
    for (const job of Object.values(flow.jobs)) expect(job.environment).toBeUndefined()
  })

  it('names the deployment and its load-balancer after the repository and the pull request, the same in deploy and teardown', () => {
    // Two repositories on one Docker host both have a pull request 42.
    expect(deploy.step.with?.['instance-prefix']).toBe('${{ github.event.repository.name }}-pr-${{ github.event.number }}')
    expect(deploy.step.with?.['lb-name']).toBe('${{ github.event.repository.name }}-pr-${{ github.event.number }}-lb')
    expect(teardown.step.with?.['instance-prefix']).toBe(deploy.step.with?.['instance-prefix'])
  })
})

describe('examples/scheduled-cleanup.yml', () => {
  const flow = workflow('scheduled-cleanup.yml')
  const [{ step }] = actionSteps(flow)

  it('runs on a schedule', () => {
    const schedule = flow.on.schedule as { cron: string }[]
    expect(schedule[0].cron.split(' ')).toHaveLength(5)
  })

  it("prunes the repository's pull request deployments older than 72 hours or of closed pull requests", () => {
    const inputs = inputsOf(step)
    expect(inputs.command).toBe('prune')
    expect(inputs.prune).toEqual({ deployments: '*-pr-*', owner: 'acme/shop', maxAgeSeconds: 72 * 3600 })
    // As pr-preview.yml names them.
    expect(matchesPattern('shop-pr-42', inputs.prune!.deployments)).toBe(true)
    expect(inputs.githubToken).not.toBe('')
  })
})

describe('examples/app-preview.yml', () => {
  const flow = workflow('app-preview.yml')
  const deploy = actionSteps(flow).find(({ step }) => step.with?.command === 'deploy')!.step

  it('takes every secret-env value and the certificate from the repository secrets, nothing secret from env', () => {
    const secretEnv = String(deploy.with?.['secret-env']).trim().split('\n')
    expect(secretEnv.length).toBeGreaterThan(0)
    for (const line of secretEnv) expect(line).toMatch(/^[A-Z_]+=\$\{\{ secrets\.\w+ \}\}$/)
    expect(String(deploy.with?.env)).not.toContain('secrets.')
    expect(deploy.with?.['lb-certificate']).toMatch(/^\$\{\{ secrets\.\w+ \}\}$/)
  })

  it('deploys a configured application over HTTPS', () => {
    const settings = inputsOf(deploy).deploy!
    expect(settings.instanceConfig.secretEnv.map((v) => v.key)).toEqual(['DATABASE_URL', 'API_KEY'])
    expect(settings.instanceConfig.env.map((v) => v.key)).toEqual(['APP_ENV', 'PUBLIC_URL', 'LOG_LEVEL'])
    expect(settings.instanceConfig.command?.[0]).toBe('gunicorn')
    expect(settings.instanceConfig.memoryBytes).toBe(1024 ** 3)
    expect(settings.certificate).toBeDefined()
    expect(settings.lbPort).toBe(443)
    expect(settings.pull).toBe('missing')
  })
})
