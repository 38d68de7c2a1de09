import { describe, expect, it, vi } from 'vitest'
import type { GitHubApi } from '../src/github/api'
import { pullRequestStates } from '../src/github/pulls'
import { LABEL } from '../src/labels'
import {
  decide,
  describePrune,
  formatDuration,
  matchesPattern,
  objectOf,
  planPrune,
  prune,
  summarizeDeployments,
  type DeploymentObject,
  type PruneContext,
  type PrunePolicy,
} from '../src/prune'
import { FakeHost, recordLog } from './fake-docker-host'

// prune() holds each deployment's lock (lock.ts, tested on its own) while it removes it; here the
// lock is taken at once, after whatever a test says happens while prune waits for it.
const lockWait = vi.hoisted(() => ({ meanwhile: async (): Promise<void> => {} }))
vi.mock('../src/lock', () => ({
  withDeploymentLock: async <T>(host: unknown, _deployment: string, _options: unknown, fn: (host: unknown) => Promise<T>): Promise<T> => {
    await lockWait.meanwhile()
    return fn(host)
  },
}))

const now = new Date('2024-05-10T12:00:00Z')
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3600_000)
const OURS = 'acme/one'
const policy = (extra: Partial<PrunePolicy> = {}): PrunePolicy => ({ owner: OURS, now, maxAgeSeconds: 72 * 3600, closedPullRequests: new Set(), ...extra })

function object(deployment: string, created: Date, role = 'instance', pullRequest?: string, owner = OURS): DeploymentObject {
  return { deployment, role, created, owner, ...(pullRequest ? { pullRequest } : {}) }
}

describe('matchesPattern', () => {
  it.each([
    ['pr-42', 'pr-*', true],
    ['pr-', 'pr-*', true],
    ['web', 'pr-*', false],
    ['xpr-1', 'pr-*', false],
    ['anything', '*', true],
    ['web', 'web', true],
    ['web2', 'web', false],
    ['a-x-b-y-c', 'a*b*c', true],
    ['app-preview', '*-preview', true],
    ['app-preview-2', '*-preview', false],
  ])('%s against %s: %s', (name, pattern, expected) => {
    expect(matchesPattern(name, pattern)).toBe(expected)
  })
})

describe('summarizeDeployments', () => {
  it('groups objects by deployment, dated by the newest, with the pull request of the newest that names one', () => {
    const summaries = summarizeDeployments([
      object('pr-2', hoursAgo(5), 'network', 'o/r#2'),
      object('pr-1', hoursAgo(100), 'instance', 'o/r#1'),
      object('pr-2', hoursAgo(1), 'instance'),
      object('pr-1', hoursAgo(80), 'lb', 'o/r#1'),
    ])
    expect(summaries).toEqual([
      { deployment: 'pr-1', owners: [OURS], newest: hoursAgo(80), pullRequest: 'o/r#1' },
      { deployment: 'pr-2', owners: [OURS], newest: hoursAgo(1), pullRequest: 'o/r#2' },
    ])
  })

  it('counts a lock as activity: a deploy that holds it is running', () => {
    const [summary] = summarizeDeployments([object('pr-1', hoursAgo(100)), object('pr-1', hoursAgo(0.01), 'lock')])
    expect(decide(summary, policy()).remove).toBe(false)
  })
})

describe('decide and planPrune', () => {
  it('removes a deployment older than max-age, saying how old', () => {
    const decision = decide({ deployment: 'pr-1', owners: [OURS], newest: hoursAgo(73) }, policy())
    expect(decision).toEqual({ deployment: 'pr-1', remove: true, reason: 'last changed 3d 1h ago, longer than max-age 3d' })
  })

  it('keeps one within max-age, saying so', () => {
    const decision = decide({ deployment: 'pr-2', owners: [OURS], newest: hoursAgo(71) }, policy())
    expect(decision).toEqual({ deployment: 'pr-2', remove: false, reason: 'last changed 2d 23h ago, within max-age 3d' })
  })

  it('keeps one exactly max-age old: only older goes', () => {
    expect(decide({ deployment: 'x', owners: [OURS], newest: hoursAgo(72) }, policy()).remove).toBe(false)
  })

  it('removes a deployment whose pull request is closed, however fresh', () => {
    const decision = decide(
      { deployment: 'pr-3', owners: [OURS], newest: hoursAgo(0), pullRequest: 'o/r#3' },
      policy({ closedPullRequests: new Set(['o/r#3']) }),
    )
    expect(decision).toEqual({ deployment: 'pr-3', remove: true, reason: 'pull request o/r#3 is closed', pullRequest: 'o/r#3' })
  })

  it('without max-age removes only closed pull requests, and says why it keeps the rest', () => {
    const closed = new Set(['o/r#3'])
    const plan = planPrune(
      [
        { deployment: 'pr-3', owners: [OURS], newest: hoursAgo(1), pullRequest: 'o/r#3' },
        { deployment: 'pr-4', owners: [OURS], newest: hoursAgo(1000), pullRequest: 'o/r#4' },
        { deployment: 'web', owners: [OURS], newest: hoursAgo(1000) },
      ],
      policy({ maxAgeSeconds: undefined, closedPullRequests: closed }),
    )
    expect(plan.map((d) => [d.deployment, d.remove, d.reason])).toEqual([
      ['pr-3', true, 'pull request o/r#3 is closed'],
      ['pr-4', false, 'pull request o/r#4 is not known to be closed'],
      ['web', false, 'no pull request, and no max-age'],
    ])
  })

  it('treats a newest object dated in the future (another clock) as fresh', () => {
    expect(decide({ deployment: 'x', owners: [OURS], newest: new Date(now.getTime() + 60_000) }, policy({ maxAgeSeconds: 1 })).remove).toBe(false)
  })
})

describe('objectOf', () => {
  const onHost = new Date('2024-01-01T00:00:00Z')

  it('reads deployment, role, creation time, owner and pull request from the labels', () => {
    const labels = {
      [LABEL.deployment]: 'pr-1',
      [LABEL.role]: 'lb',
      [LABEL.created]: '2024-05-01T00:00:00.000Z',
      [LABEL.owner]: 'o/r',
      [LABEL.pullRequest]: 'o/r#1',
    }
    expect(objectOf(labels, onHost)).toEqual({ deployment: 'pr-1', role: 'lb', created: new Date('2024-05-01T00:00:00Z'), owner: 'o/r', pullRequest: 'o/r#1' })
  })

  it("reads an object without an owner label (an earlier version's) as owned by ''", () => {
    expect(objectOf({ [LABEL.deployment]: 'pr-1' }, onHost)?.owner).toBe('')
  })

  it("dates an object without a readable created label by the Docker host's creation time", () => {
    expect(objectOf({ [LABEL.deployment]: 'pr-1', [LABEL.created]: 'soon' }, onHost)?.created).toEqual(onHost)
  })

  it('ignores an object without the deployment label', () => {
    expect(objectOf({ 'com.example': 'x' }, onHost)).toBeUndefined()
  })
})

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45, '45s'],
    [90 * 60, '1h 30m'],
    [72 * 3600, '3d'],
    [73 * 3600 + 5, '3d 1h'],
    [86400 + 59, '1d 59s'],
  ])('%i seconds: %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text)
  })
})

describe('describePrune', () => {
  it('lists what was removed, kept and could not be removed, each with why', () => {
    const lines = describePrune(
      {
        removed: [{ deployment: 'pr-1', remove: true, reason: 'pull request o/r#1 is closed' }],
        kept: [{ deployment: 'pr-2', remove: false, reason: 'last changed 1h ago, within max-age 3d' }],
        failed: [{ deployment: 'pr-3', error: 'network in use' }],
        unmatched: 2,
        otherOwners: 1,
      },
      'pr-*',
    )
    expect(lines).toEqual([
      "Deployments matching 'pr-*': 3; 1 of other owners and 2 other(s) on the Docker host left alone.",
      'Removed 1:',
      '  pr-1: pull request o/r#1 is closed',
      'Kept 1:',
      '  pr-2: last changed 1h ago, within max-age 3d',
      'Could not remove 1:',
      '  pr-3: network in use',
    ])
  })

  it('says so when nothing matched', () => {
    expect(describePrune({ removed: [], kept: [], failed: [], unmatched: 0, otherOwners: 0 }, 'pr-*')).toEqual([
      "Deployments matching 'pr-*': 0; 0 of other owners and 0 other(s) on the Docker host left alone.",
      'Removed 0.',
      'Kept 0.',
    ])
  })
})

describe('pullRequestStates against an Octokit-shaped double', () => {
  it('asks for each pull request and collects the closed ones; one it cannot read is kept, with why', async () => {
    const asked: number[] = []
    const github = {
      rest: {
        pulls: {
          get: async ({ pull_number }: { pull_number: number }) => {
            asked.push(pull_number)
            if (pull_number === 3) throw new Error('Not Found')
            return { data: { state: pull_number === 1 ? 'closed' : 'open' } }
          },
        },
      },
    } as unknown as GitHubApi
    const states = await pullRequestStates(
      github,
      [1, 2, 3].map((number) => ({ owner: 'o', repo: 'r', number })),
    )
    expect(asked).toEqual([1, 2, 3])
    expect([...states.closed]).toEqual(['o/r#1'])
    expect(states.unknown).toEqual(['o/r#3: Not Found'])
  })
})

describe('prune on a Docker host', () => {
  const longAgo = '2000-01-01T00:00:00.000Z'
  const context = { lock: {} as PruneContext['lock'] }

  // A deployment as a deploy leaves it, `owner` undefined as an earlier version left it.
  async function deployed(host: FakeHost, deployment: string, owner: string | undefined, created = longAgo): Promise<void> {
    const labels = (role: string) => ({
      [LABEL.deployment]: deployment,
      [LABEL.role]: role,
      [LABEL.created]: created,
      ...(owner === undefined ? {} : { [LABEL.owner]: owner }),
    })
    await host.createNetwork(`${deployment}-net`, labels('network'))
    host.add({ name: `${deployment}-lb`, labels: labels('lb') })
    host.add({ name: `${deployment}-g1-1`, labels: labels('instance') })
    // Only what prune does is recorded.
    host.calls = []
  }

  const names = (host: FakeHost): string[] => [...host.containers.values()].map((c) => c.name).sort()

  it("removes only the caller's old deployments and one from before owner labels; another owner's is not even considered", async () => {
    recordLog()
    lockWait.meanwhile = async () => {}
    const host = new FakeHost()
    await deployed(host, 'pr-1', OURS)
    await deployed(host, 'pr-2', 'acme/two')
    await deployed(host, 'pr-3', undefined)
    await deployed(host, 'pr-4', OURS, new Date().toISOString())
    await deployed(host, 'web', OURS)
    const report = await prune(host, { deployments: 'pr-*', owner: OURS, maxAgeSeconds: 3600 }, context)
    expect(report.removed.map((d) => d.deployment)).toEqual(['pr-1', 'pr-3'])
    expect(report.kept.map((d) => [d.deployment, d.reason])).toEqual([['pr-4', 'last changed 0s ago, within max-age 1h']])
    expect(report).toMatchObject({ otherOwners: 1, unmatched: 1, failed: [] })
    expect(names(host)).toEqual(['pr-2-g1-1', 'pr-2-lb', 'pr-4-g1-1', 'pr-4-lb', 'web-g1-1', 'web-lb'])
    expect([...host.networks.values()].sort()).toEqual(['pr-2-net', 'pr-4-net', 'web-net'])
  })

  it("removes an old deployment's services' volumes, also when they are all it has left", async () => {
    recordLog()
    lockWait.meanwhile = async () => {}
    const host = new FakeHost()
    const old = new Date(Date.now() - 7200_000).toISOString()
    const volumeLabels = (deployment: string) => ({ [LABEL.deployment]: deployment, [LABEL.role]: 'volume', [LABEL.created]: old, [LABEL.owner]: OURS })
    await deployed(host, 'pr-1', OURS)
    await host.createVolume('pr-1-svc-db-1a2b3c4d', 'local', {}, volumeLabels('pr-1'))
    await host.createVolume('pr-5-svc-db-1a2b3c4d', 'local', {}, volumeLabels('pr-5'))
    const report = await prune(host, { deployments: 'pr-*', owner: OURS, maxAgeSeconds: 3600 }, context)
    expect(report.removed.map((d) => d.deployment)).toEqual(['pr-1', 'pr-5'])
    expect(host.volumes.size).toBe(0)
  })

  it('without max-age leaves a deployment from before owner labels, saying why', async () => {
    recordLog()
    lockWait.meanwhile = async () => {}
    const host = new FakeHost()
    await deployed(host, 'pr-3', undefined)
    const report = await prune(host, { deployments: 'pr-*', owner: OURS }, context)
    expect(report.kept).toEqual([{ deployment: 'pr-3', remove: false, reason: 'no owner label (an earlier version created it), and no max-age' }])
    expect(host.calls).toEqual([])
  })

  it('decides again under the lock: a deployment another owner took meanwhile stays', async () => {
    recordLog()
    const host = new FakeHost()
    await deployed(host, 'pr-3', undefined)
    lockWait.meanwhile = async () => {
      host.add({ name: 'pr-3-g2-1', labels: { [LABEL.deployment]: 'pr-3', [LABEL.role]: 'instance', [LABEL.owner]: 'acme/two' } })
    }
    const report = await prune(host, { deployments: 'pr-*', owner: OURS, maxAgeSeconds: 3600 }, context)
    expect(report.removed).toEqual([])
    expect(report.kept).toEqual([{ deployment: 'pr-3', remove: false, reason: 'changed while prune waited: belongs to acme/two' }])
    expect(names(host)).toEqual(['pr-3-g1-1', 'pr-3-g2-1', 'pr-3-lb'])
  })
})
