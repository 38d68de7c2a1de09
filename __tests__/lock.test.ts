import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { detectHost, type HostProfile } from '../src/docker/host-profile'
import { LeaseLostError } from '../src/errors'
import { FakeHost, type FakeContainer } from './fake-docker-host'
import { LABEL } from '../src/labels'
import {
  holderFromLabels,
  holderOf,
  holderProcessGone,
  imageOnHost,
  processIdentity,
  withDeploymentLock,
  withIngressLock,
  type LockLog,
  type LockOptions,
} from '../src/lock'
import { lockName } from '../src/names'

const DOCKER = detectHost({ Version: '20.10.24', ApiVersion: '1.41' }, {})
const PODMAN = detectHost({ Version: '4.3.1', ApiVersion: '1.41', Components: [{ Name: 'Podman Engine', Version: '4.3.1' }] }, {})

// The in-memory host, with the images a lock may be made from.
function lockHost(profile: HostProfile = DOCKER): FakeHost {
  const host = new FakeHost()
  host.podman = profile.kind === 'podman'
  host.images = ['vic-lb-test/haproxy:2.6', 'other:1']
  return host
}

// A lock as a run on another machine would have left it.
function addLock(host: FakeHost, deployment: string, labels: Record<string, string>): FakeContainer {
  const id = host.add({
    id: `other-${deployment}-${host.containers.size}`,
    name: lockName(deployment),
    running: false,
    labels,
    created: new Date(),
  })
  return host.containers.get(id)!
}

const all = (host: FakeHost): FakeContainer[] => [...host.containers.values()]

function httpError(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) ${message}`), { statusCode, json: { message } })
}

function recorder(): LockLog & { infos: string[]; warnings: string[] } {
  const infos: string[] = []
  const warnings: string[] = []
  return { infos, warnings, info: (m) => infos.push(m), warning: (m) => warnings.push(m) }
}

function options(log: LockLog, extra: Partial<LockOptions> = {}): LockOptions {
  return {
    operation: 'deploy',
    host: DOCKER,
    image: 'vic-lb-test/haproxy:2.6',
    timeoutSeconds: 5,
    holder: 'run 7/1',
    log,
    pollMs: 5,
    reportEveryMs: 0,
    ...extra,
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('withDeploymentLock', () => {
  it('holds a never-started lock container, labelled with the deployment, holder and operation, while fn runs', async () => {
    const host = lockHost()
    const log = recorder()
    let during: FakeContainer[] = []
    const result = await withDeploymentLock(host, 'pr-42', options(log), async () => {
      during = all(host)
      return 'done'
    })
    expect(result).toBe('done')
    expect(during).toHaveLength(1)
    const [lock] = during
    expect(lock.name).toBe('pr-42-lock')
    expect(lock.spec?.Image).toBe('vic-lb-test/haproxy:2.6')
    // A VCH refuses a container without a command.
    expect(lock.spec?.Cmd?.length).toBeGreaterThan(0)
    expect(lock.running).toBe(false)
    expect(lock.labels![LABEL.deployment]).toBe('pr-42')
    expect(lock.labels![LABEL.role]).toBe('lock')
    expect(lock.labels![LABEL.holder]).toBe('run 7/1')
    expect(lock.labels![LABEL.operation]).toBe('deploy')
    expect(lock.labels![LABEL.leaseLapse]).toBe('16000')
    expect(Date.now() - new Date(lock.labels![LABEL.created]).getTime()).toBeLessThan(5000)
    expect(host.containers.size).toBe(0)
    expect(log.warnings).toEqual([])
  })

  it('releases the lock when fn fails, and passes the failure on', async () => {
    const host = lockHost()
    const failing = withDeploymentLock(host, 'pr-1', options(recorder()), async () => {
      throw new Error('deploy failed')
    })
    await expect(failing).rejects.toThrow('deploy failed')
    expect(host.containers.size).toBe(0)
  })

  it('makes a second run wait for the first, saying for what, since when and for whom', async () => {
    const host = lockHost()
    const order: string[] = []
    const firstLog = recorder()
    const secondLog = recorder()
    const first = withDeploymentLock(host, 'pr-42', options(firstLog, { holder: 'run 100/1' }), async () => {
      order.push('first starts')
      await sleep(60)
      order.push('first ends')
    })
    await sleep(5)
    const second = withDeploymentLock(host, 'pr-42', options(secondLog, { holder: 'run 101/1', operation: 'teardown' }), async () => {
      order.push('second starts')
      order.push('second ends')
    })
    await Promise.all([first, second])
    expect(order).toEqual(['first starts', 'first ends', 'second starts', 'second ends'])
    const waiting = secondLog.infos.find((m) => m.startsWith('Waiting for'))
    expect(waiting).toMatch(/^Waiting for the deploy of 'pr-42' started at \d{4}-\d\d-\d\dT[\d:.]+Z by run 100\/1 /)
    expect(secondLog.infos.at(-1)).toMatch(/^Took the lock pr-42-lock after waiting/)
    expect(firstLog.infos).toEqual([])
    expect(host.containers.size).toBe(0)
  })

  it('waits on Podman too, where a taken name is a 500, not a 409', async () => {
    const host = lockHost(PODMAN)
    const order: string[] = []
    const first = withDeploymentLock(host, 'pr-6', options(recorder(), { host: PODMAN }), async () => {
      order.push('first starts')
      await sleep(40)
      order.push('first ends')
    })
    await sleep(5)
    const secondLog = recorder()
    await withDeploymentLock(host, 'pr-6', options(secondLog, { host: PODMAN }), async () => order.push('second'))
    await first
    expect(order).toEqual(['first starts', 'first ends', 'second'])
    expect(secondLog.infos.at(-1)).toMatch(/^Took the lock pr-6-lock after waiting/)
  })

  it('takes a 500 that is not about the name for the failure it is, on Podman as elsewhere', async () => {
    const host = lockHost(PODMAN)
    host.fail('create pr-6-lock', httpError(500, 'runc: error setting rlimit type 7'))
    const attempt = withDeploymentLock(host, 'pr-6', options(recorder(), { host: PODMAN }), async () => 'ran')
    await expect(attempt).rejects.toThrow(/^Could not create the lock container pr-6-lock .*rlimit/)
    // dockerd's 500 "already in use" would be a failure, since dockerd says 409 for a clash.
    const dockerd = lockHost(DOCKER)
    dockerd.fail('create pr-6-lock', httpError(500, 'the name is already in use by a stuck container'))
    await expect(withDeploymentLock(dockerd, 'pr-6', options(recorder()), async () => 'ran')).rejects.toThrow(/^Could not create the lock container/)
  })

  it('reports while waiting at most once per report interval', async () => {
    const host = lockHost()
    addLock(host, 'pr-5', { [LABEL.deployment]: 'pr-5', [LABEL.role]: 'lock', [LABEL.created]: new Date().toISOString(), [LABEL.holder]: 'run 1/1' })
    const log = recorder()
    setTimeout(() => host.containers.clear(), 120)
    await withDeploymentLock(host, 'pr-5', options(log, { reportEveryMs: 1000 }), async () => undefined)
    expect(log.infos.filter((m) => m.startsWith('Waiting for'))).toHaveLength(1)
    expect(host.calls.filter((c) => c === 'create pr-5-lock').length).toBeGreaterThan(3)
  })

  it('keeps two deployments apart: their locks do not wait for each other', async () => {
    const host = lockHost()
    const log = recorder()
    await withDeploymentLock(host, 'pr-1', options(log), () =>
      withDeploymentLock(host, 'pr-2', options(log), async () =>
        expect(
          all(host)
            .map((c) => c.name)
            .sort(),
        ).toEqual(['pr-1-lock', 'pr-2-lock']),
      ),
    )
    expect(log.infos).toEqual([])
  })

  it('takes over a lock of an earlier version (no lease) older than the timeout, with a warning naming its holder', async () => {
    const host = lockHost()
    const stale = addLock(host, 'pr-9', {
      [LABEL.deployment]: 'pr-9',
      [LABEL.role]: 'lock',
      [LABEL.created]: '2020-01-01T00:00:00.000Z',
      [LABEL.holder]: 'run 55/2',
      [LABEL.operation]: 'teardown',
    })
    const log = recorder()
    let held: FakeContainer | undefined
    await withDeploymentLock(host, 'pr-9', options(log), async () => {
      held = all(host)[0]
    })
    expect(held?.id).not.toBe(stale.id)
    expect(held?.labels?.[LABEL.holder]).toBe('run 7/1')
    expect(log.warnings).toHaveLength(1)
    expect(log.warnings[0]).toMatch(
      /^Taking over the lock pr-9-lock of deployment 'pr-9': it was taken for the teardown started at 2020-01-01T00:00:00.000Z by run 55\/2, made by an earlier version of the action that renews no lease, and older than wait-timeout \(5 s\)\.$/,
    )
    expect(host.containers.size).toBe(0)
  })

  it('takes over at once a lock whose holder process on this machine no longer runs', async () => {
    const host = lockHost()
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'])
    const identity = processIdentity(child.pid)
    expect(identity).toBeDefined()
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    const lock = {
      [LABEL.deployment]: 'pr-8',
      [LABEL.role]: 'lock',
      [LABEL.created]: new Date().toISOString(),
      [LABEL.holder]: 'run 9/1',
      [LABEL.holderProcess]: identity!,
    }
    addLock(host, 'pr-8', lock)
    const log = recorder()
    const started = Date.now()
    await withDeploymentLock(host, 'pr-8', options(log, { timeoutSeconds: 60 }), async () => undefined)
    expect(Date.now() - started).toBeLessThan(1000)
    expect(log.warnings[0]).toMatch(/by run 9\/1, whose process on this machine no longer runs\.$/)
  })

  it('takes a lock released while it looked for the release it is: no take-over warning, and says it waited', async () => {
    const host = lockHost()
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'])
    const identity = processIdentity(child.pid)
    const lock = addLock(host, 'pr-8', {
      [LABEL.deployment]: 'pr-8',
      [LABEL.role]: 'lock',
      [LABEL.created]: new Date().toISOString(),
      [LABEL.holder]: 'run 9/1',
      [LABEL.holderProcess]: identity!,
      [LABEL.leaseLapse]: '16000',
    })
    // The holder releases its lock and ends while the waiter reads the lease.
    const read = host.getFile.bind(host)
    host.getFile = async (id, file) => {
      const value = await read(id, file)
      if (host.containers.delete(lock.id)) {
        child.kill('SIGKILL')
        await new Promise((resolve) => child.once('exit', resolve))
      }
      return value
    }
    const log = recorder()
    await withDeploymentLock(host, 'pr-8', options(log, { timeoutSeconds: 60, reportEveryMs: 60_000 }), async () => undefined)
    expect(log.warnings).toEqual([])
    expect(log.infos).toContainEqual(expect.stringMatching(/^Took the lock pr-8-lock after waiting 0 s$/))
  })

  it('waits for a holder whose process still runs, or that ran elsewhere', async () => {
    expect(holderProcessGone(processIdentity())).toBe(false)
    const [host, ...rest] = processIdentity()!.split(' ')
    // Another machine (or an unreadable identity) proves nothing.
    expect(holderProcessGone([`${host}-other`, ...rest.slice(0, 3), '999999'].join(' '))).toBe(false)
    expect(holderProcessGone(undefined)).toBe(false)
    expect(holderProcessGone('garbage')).toBe(false)
    // A PID that runs again, but started at another time, is another process.
    const [, boot, namespace, pid, start] = processIdentity()!.split(' ')
    expect(holderProcessGone([host, boot, namespace, pid, `${start}0`].join(' '))).toBe(true)
  })

  it('stops waiting for the lock at once when the run is cancelled', async () => {
    const host = lockHost()
    addLock(host, 'pr-6', { [LABEL.deployment]: 'pr-6', [LABEL.role]: 'lock', [LABEL.created]: new Date().toISOString(), [LABEL.holder]: 'run 1/1' })
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('cancelled')), 50)
    const started = Date.now()
    let ran = false
    await expect(
      withDeploymentLock(host, 'pr-6', options(recorder(), { timeoutSeconds: 60, pollMs: 10_000, signal: controller.signal }), async () => {
        ran = true
      }),
    ).rejects.toThrow('cancelled')
    expect(Date.now() - started).toBeLessThan(1000)
    expect(ran).toBe(false)
    expect(host.containers.size).toBe(1)
  })

  it('gives up after the timeout while live runs keep holding the lock, saying how to go on', async () => {
    const host = lockHost()
    // Runs ahead in the queue take the lock one after the other, each lock younger than the timeout.
    const renew = () => {
      host.containers.clear()
      addLock(host, 'pr-3', { [LABEL.deployment]: 'pr-3', [LABEL.role]: 'lock', [LABEL.created]: new Date().toISOString(), [LABEL.holder]: 'run 1/1' })
    }
    renew()
    const queue = setInterval(renew, 300)
    let ran = false
    try {
      const waiter = withDeploymentLock(host, 'pr-3', options(recorder(), { timeoutSeconds: 1 }), async () => {
        ran = true
      })
      await expect(waiter).rejects.toThrow(
        /^Gave up after 1 s \(wait-timeout\) waiting for the deploy of 'pr-3' started at .+ by run 1\/1, which still holds it\. Run again once that run has finished, or give a longer wait-timeout\.$/,
      )
    } finally {
      clearInterval(queue)
    }
    expect(ran).toBe(false)
    expect(all(host).map((c) => c.labels?.[LABEL.holder])).toEqual(['run 1/1'])
  })

  it('refuses a container with the lock name that is not the lock of this deployment', async () => {
    const host = lockHost()
    addLock(host, 'pr-7', { [LABEL.deployment]: 'other', [LABEL.role]: 'lb' })
    const attempt = withDeploymentLock(host, 'pr-7', options(recorder()), async () => 'ran')
    await expect(attempt).rejects.toThrow(
      /^A container named pr-7-lock exists on the Docker host and is not the lock of deployment 'pr-7' \(it belongs to deployment 'other'\)\. .*instance-prefix/,
    )
    host.containers.clear()
    addLock(host, 'pr-7', {})
    await expect(withDeploymentLock(host, 'pr-7', options(recorder()), async () => 'ran')).rejects.toThrow(/not the lock of deployment 'pr-7'\. Rename/)
  })

  it('says which image it could not create the lock from', async () => {
    const host = lockHost()
    host.fail('create pr-8-lock', httpError(404, 'No such image: missing:1'))
    const attempt = withDeploymentLock(host, 'pr-8', options(recorder(), { image: 'missing:1' }), async () => 'ran')
    await expect(attempt).rejects.toThrow(
      /^Could not create the lock container pr-8-lock of deployment 'pr-8' from image missing:1: No such image: missing:1\./,
    )
  })

  it('warns, and does not fail, when its lock was taken over while it ran', async () => {
    const host = lockHost()
    const log = recorder()
    const result = await withDeploymentLock(host, 'pr-4', options(log), async () => {
      host.containers.clear()
      addLock(host, 'pr-4', { [LABEL.deployment]: 'pr-4', [LABEL.role]: 'lock', [LABEL.holder]: 'run 2/1' })
      return 'finished'
    })
    expect(result).toBe('finished')
    expect(log.warnings).toEqual([expect.stringMatching(/^The lock pr-4-lock of deployment 'pr-4' was taken over by another run/)])
    // The other run's lock is not ours to remove.
    expect(all(host).map((c) => c.labels?.[LABEL.holder])).toEqual(['run 2/1'])
  })
})

describe('the lease', () => {
  // Short, but with room for a busy machine's timers: a waiter needs 700 ms of silence.
  const FAST = { beatMs: 30, lapseMs: 700, holdMs: 450 }
  const LEASE_PATH = '/vic-lb-lease'

  it('is renewed while fn runs: the counter in the lock container goes up every beat', async () => {
    const host = lockHost()
    const seen = new Set<string>()
    await withDeploymentLock(host, 'pr-1', options(recorder(), { lease: FAST }), async () => {
      for (let i = 0; i < 20; i++) {
        seen.add(all(host)[0].files.get(LEASE_PATH) ?? 'none')
        await sleep(30)
      }
    })
    expect(seen.size).toBeGreaterThan(4)
    expect(host.containers.size).toBe(0)
  })

  it("keeps a live holder: a waiter gives up after its wait-timeout, shorter than the holder's run, and never takes the lock over", async () => {
    const host = lockHost()
    const order: string[] = []
    const holderLog = recorder()
    const holder = withDeploymentLock(host, 'pr-2', options(holderLog, { lease: FAST, holder: 'run 1/1' }), async (leased) => {
      await sleep(1600)
      // Still the holder: it may write.
      await leased.putFile(all(host)[0].id, '/tmp', 'proof', 'x')
      order.push('holder done')
    })
    await sleep(10)
    const waiter = withDeploymentLock(host, 'pr-2', options(recorder(), { timeoutSeconds: 1, lease: FAST, holder: 'run 2/1' }), async () => {
      order.push('waiter ran')
    })
    await expect(waiter).rejects.toThrow(/^Gave up after 1 s \(wait-timeout\) waiting for the deploy of 'pr-2' .* by run 1\/1, which still holds it/)
    await holder
    expect(order).toEqual(['holder done'])
    expect(holderLog.warnings).toEqual([])
    expect(host.containers.size).toBe(0)
  })

  it('is taken over once its counter has stood still for the lapse the lock names, however young the lock', async () => {
    const host = lockHost()
    const dead = addLock(host, 'pr-3', {
      [LABEL.deployment]: 'pr-3',
      [LABEL.role]: 'lock',
      [LABEL.created]: new Date().toISOString(),
      [LABEL.holder]: 'run 9/1',
      [LABEL.leaseLapse]: '150',
    })
    dead.files.set(LEASE_PATH, '7\n')
    const log = recorder()
    const started = Date.now()
    await withDeploymentLock(host, 'pr-3', options(log, { timeoutSeconds: 60 }), async () => undefined)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect(Date.now() - started).toBeLessThan(1000)
    expect(log.warnings[0]).toMatch(/by run 9\/1, whose lease lapsed: it was not renewed for 0 s, so that run is taken to have died\.$/)
  })

  it("is released when the lock goes while its lease is read, however the host words that (Podman: a 500, 'no such container')", async () => {
    const host = lockHost(PODMAN)
    const gone = addLock(host, 'pr-7', { [LABEL.deployment]: 'pr-7', [LABEL.role]: 'lock', [LABEL.holder]: 'run 9/1', [LABEL.leaseLapse]: '600' })
    host.getFile = async (id) => {
      host.containers.delete(id) // its holder released it meanwhile
      throw httpError(500, `no container with ID ${gone.id} found in database: no such container`)
    }
    const log = recorder()
    expect(await withDeploymentLock(host, 'pr-7', options(log, { host: PODMAN }), async () => 'ran')).toBe('ran')
    expect(log.warnings).toEqual([])
  })

  it("is released when the lock goes while it is inspected (Podman: a 500, 'no such container')", async () => {
    const host = lockHost(PODMAN)
    const gone = addLock(host, 'pr-9', { [LABEL.deployment]: 'pr-9', [LABEL.role]: 'lock', [LABEL.holder]: 'run 9/1', [LABEL.leaseLapse]: '600' })
    const inspect = host.inspect.bind(host)
    let first = true
    host.inspect = async (id) => {
      if (!first) return inspect(id)
      first = false
      host.containers.delete(gone.id) // its holder released it meanwhile
      throw httpError(500, `no container with ID ${gone.id} found in database: no such container`)
    }
    const log = recorder()
    expect(await withDeploymentLock(host, 'pr-9', options(log, { host: PODMAN }), async () => 'ran')).toBe('ran')
    expect(log.warnings).toEqual([])
  })

  it('is released when the lock is being removed while its lease is read (dockerd: a 500, its layer gone, the container "removing")', async () => {
    const host = lockHost(DOCKER)
    const going = addLock(host, 'pr-6', { [LABEL.deployment]: 'pr-6', [LABEL.role]: 'lock', [LABEL.holder]: 'run 9/1', [LABEL.leaseLapse]: '600' })
    let removing = false
    host.getFile = async () => {
      removing = true
      throw httpError(500, `RWLayer of container ${going.id} is unexpectedly nil`)
    }
    const inspect = host.inspect.bind(host)
    host.inspect = async (id) => {
      const details = await inspect(id)
      if (!removing) return details
      host.containers.delete(going.id) // its removal ends just after
      return { ...details, State: { ...details.State, Status: 'removing' } }
    }
    const log = recorder()
    expect(await withDeploymentLock(host, 'pr-6', options(log), async () => 'ran')).toBe('ran')
    expect(log.warnings).toEqual([])
  })

  it('fails naming the error when the lease cannot be read from a lock that is still there', async () => {
    const host = lockHost(PODMAN)
    addLock(host, 'pr-8', { [LABEL.deployment]: 'pr-8', [LABEL.role]: 'lock', [LABEL.holder]: 'run 9/1', [LABEL.leaseLapse]: '600' })
    host.getFile = async () => {
      throw httpError(500, 'something else broke')
    }
    await expect(withDeploymentLock(host, 'pr-8', options(recorder(), { host: PODMAN }), async () => 'ran')).rejects.toThrow(
      /^Could not read the lease of the lock container other-pr-8-0: .*something else broke/,
    )
  })

  it('a lease that keeps being renewed is never taken over', async () => {
    const host = lockHost()
    const live = addLock(host, 'pr-4', { [LABEL.deployment]: 'pr-4', [LABEL.role]: 'lock', [LABEL.holder]: 'run 9/1', [LABEL.leaseLapse]: '600' })
    let beat = 0
    const beating = setInterval(() => live.files.set(LEASE_PATH, `${++beat}\n`), 30)
    try {
      await expect(withDeploymentLock(host, 'pr-4', options(recorder(), { timeoutSeconds: 1 }), async () => 'ran')).rejects.toThrow(/^Gave up after 1 s/)
    } finally {
      clearInterval(beating)
    }
    expect(all(host).map((c) => c.id)).toEqual([live.id])
  })

  it('stops the holder before its next write once its lock was taken over', async () => {
    const host = lockHost()
    const attempt = withDeploymentLock(host, 'pr-5', options(recorder(), { lease: FAST }), async (leased) => {
      const lock = all(host)[0]
      host.containers.delete(lock.id) // another run removed it
      await sleep(200) // a renewal meets the 404
      await leased.createContainer({ name: 'pr-5-web-1', Image: 'other:1' })
    })
    await expect(attempt).rejects.toThrow(LeaseLostError)
    await expect(attempt).rejects.toThrow(
      /^This run lost the lock pr-5-lock of deployment 'pr-5': its lock container is gone: another run took the lock over\. It stopped before changing anything more/,
    )
    expect(host.byName('pr-5-web-1')).toBeUndefined()
  })

  it('stops the holder before its next write when it could not renew for the hold time (a network cut)', async () => {
    const host = lockHost()
    const log = recorder()
    const attempt = withDeploymentLock(host, 'pr-6', options(log, { lease: FAST }), async (leased) => {
      await sleep(30)
      host.putFile = async () => {
        throw new Error('connect ETIMEDOUT')
      }
      await sleep(FAST.holdMs + 40)
      // Reads still pass; writes do not.
      expect(await leased.listContainers([])).toHaveLength(1)
      await leased.start(all(host)[0].id)
    })
    await expect(attempt).rejects.toThrow(/^This run lost the lock pr-6-lock of deployment 'pr-6': it could not be renewed for \d+ s \(connect ETIMEDOUT\)/)
    expect(all(host).every((c) => !c.running)).toBe(true)
  })
})

describe('holderOf', () => {
  it('names the workflow run, its attempt and repository on a runner', () => {
    expect(holderOf({ GITHUB_RUN_ID: '123', GITHUB_RUN_ATTEMPT: '2', GITHUB_REPOSITORY: 'o/r' }, 'runner', 9)).toBe('run 123/2 of o/r')
    expect(holderOf({ GITHUB_RUN_ID: '123' }, 'runner', 9)).toBe('run 123/1')
  })

  it('names the machine and process elsewhere', () => {
    expect(holderOf({}, 'laptop', 4242)).toBe('laptop pid 4242')
  })
})

describe('holderFromLabels', () => {
  it('reads operation, holder and time from the labels', () => {
    const labels = { [LABEL.created]: '2024-05-01T12:00:00.000Z', [LABEL.holder]: 'run 1/1', [LABEL.operation]: 'prune' }
    expect(holderFromLabels('abc', labels, '2030-01-01T00:00:00Z')).toEqual({
      id: 'abc',
      operation: 'prune',
      holder: 'run 1/1',
      since: new Date('2024-05-01T12:00:00Z'),
    })
  })

  it('falls back to the creation time on the Docker host and says the holder is unknown', () => {
    const holder = holderFromLabels('abc', { [LABEL.created]: 'yesterday' }, '2024-05-01T12:00:00Z')
    expect(holder.since).toEqual(new Date('2024-05-01T12:00:00Z'))
    expect(holder.holder).toBe('an unknown run')
    expect(holder.operation).toBe('deploy')
  })
})

describe('imageOnHost', () => {
  it('prefers the given image, else takes any image on the host, else none', async () => {
    const host = lockHost()
    expect(await imageOnHost(host, 'vic-lb-test/haproxy:2.6')).toBe('vic-lb-test/haproxy:2.6')
    expect(await imageOnHost(host, 'haproxy:3.2')).toBe('sha256:vic-lb-test/haproxy:2.6')
    host.images = []
    expect(await imageOnHost(host, 'haproxy:3.2')).toBeUndefined()
  })
})

describe("a shared ingress's lock", () => {
  it('belongs to no deployment, and waits for a holder of the same ingress only', async () => {
    const host = lockHost()
    const log = recorder()
    let labels: Record<string, string> | undefined
    await withIngressLock(host, 'previews', options(log, { operation: 'route' }), async () => {
      labels = host.byName('previews-lock')!.labels
    })
    expect(labels).toMatchObject({ [LABEL.ingress]: 'previews', [LABEL.role]: 'lock', [LABEL.operation]: 'route' })
    expect(labels).not.toHaveProperty(LABEL.deployment)
    expect(all(host)).toEqual([])

    // A deployment's lock of that name is not the ingress's: said, never taken over.
    addLock(host, 'previews', { [LABEL.deployment]: 'previews', [LABEL.role]: 'lock' })
    await expect(withIngressLock(host, 'previews', options(log, { operation: 'route' }), async () => {})).rejects.toThrow(
      "A container named previews-lock exists on the Docker host and is not the lock of ingress 'previews' (it belongs to deployment 'previews'). Rename or remove it, or choose another ingress.",
    )
  })
})
