import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LABEL, LOCAL_OWNER, deploymentLabels, useOwner } from '../src/labels'

// Every object a pull request's run creates names that pull request, so a scheduled prune can
// find the deployments of closed ones.

const saved = { path: process.env.GITHUB_EVENT_PATH, repository: process.env.GITHUB_REPOSITORY }
const dirs: string[] = []
afterEach(() => {
  process.env.GITHUB_EVENT_PATH = saved.path
  process.env.GITHUB_REPOSITORY = saved.repository
  if (saved.path === undefined) delete process.env.GITHUB_EVENT_PATH
  if (saved.repository === undefined) delete process.env.GITHUB_REPOSITORY
  dirs.splice(0).forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }))
})

function runFor(payload: unknown): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-event-'))
  dirs.push(dir)
  process.env.GITHUB_EVENT_PATH = path.join(dir, 'event.json')
  process.env.GITHUB_REPOSITORY = 'octo/shop'
  fs.writeFileSync(process.env.GITHUB_EVENT_PATH, JSON.stringify(payload))
}

describe('deploymentLabels: pull request', () => {
  it('labels objects of a pull_request run with owner/repo#number', () => {
    runFor({ action: 'synchronize', pull_request: { number: 42 } })
    expect(deploymentLabels('pr-42', 'instance')[LABEL.pullRequest]).toBe('octo/shop#42')
    expect(deploymentLabels('pr-42', 'network')[LABEL.pullRequest]).toBe('octo/shop#42')
  })

  it('adds no pull request label for other events, or outside a run', () => {
    runFor({ ref: 'refs/heads/main' })
    expect(deploymentLabels('web', 'lb')).not.toHaveProperty(LABEL.pullRequest)
    delete process.env.GITHUB_EVENT_PATH
    expect(deploymentLabels('web', 'lb')).not.toHaveProperty(LABEL.pullRequest)
  })

  it('keeps the other labels, and the extra ones given', () => {
    runFor({ pull_request: { number: 7 } })
    const labels = deploymentLabels('pr-7', 'lock', { [LABEL.holder]: 'run 1/1' })
    expect(labels).toMatchObject({ [LABEL.deployment]: 'pr-7', [LABEL.role]: 'lock', [LABEL.pullRequest]: 'octo/shop#7', [LABEL.holder]: 'run 1/1' })
    expect(Date.now() - new Date(labels[LABEL.created]).getTime()).toBeLessThan(5000)
  })
})

describe('deploymentLabels: owner', () => {
  afterEach(() => useOwner(LOCAL_OWNER))

  it('records the owner the run was given on every object, the lock included', () => {
    useOwner('acme/one')
    for (const role of ['instance', 'lb', 'network', 'lock'] as const) expect(deploymentLabels('pr-42', role)[LABEL.owner]).toBe('acme/one')
  })

  it('records local when none was given', () => {
    expect(deploymentLabels('web', 'lb')[LABEL.owner]).toBe(LOCAL_OWNER)
  })
})
