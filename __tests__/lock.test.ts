import { spawn } from 'node:child_process'
import type Docker from 'dockerode'
import { describe, expect, it } from 'vitest'
import { detectHost, type HostProfile } from '../src/docker/host-profile'
import { LABEL } from '../src/labels'
import { holderFromLabels, holderOf, holderProcessGone, imageOnHost, processIdentity, withDeploymentLock, type LockLog, type LockOptions } from '../src/lock'
import { lockName } from '../src/names'

// A Docker host that knows containers by name and ID as dockerd does: names are unique, a second
// create with a taken name is a 409 (a 500 on Podman), a removed container is a 404.
interface FakeContainer {
  id: string
  name: string
  image: string
  cmd?: string[]
  labels: Record<string, string>
  created: string
}

const DOCKER = detectHost({ Version: '20.10.24', ApiVersion: '1.41' }, {})
const PODMAN = detectHost({ Version: '4.3.1', ApiVersion: '1.41', Components: [{ Name: 'Podman Engine', Version: '4.3.1' }] }, {})

class FakeDocker {
  constructor(private host: HostProfile = DOCKER) {}
  containers: FakeContainer[] = []
  images = ['vic-lb-test/haproxy:2.6', 'other:1']
  creates = 0
  private next = 1

  async createContainer(options: { name: string; Image: string; Cmd?: string[]; Labels: Record<string, string> }) {
    this.creates++
    const holder = this.containers.find((c) => c.name === options.name)
    if (holder && this.host.kind === 'podman')
      throw httpError(
        500,
        `container create: creating container storage: the container name "${options.name}" is already in use by ${holder.id}. You have to remove that container to be able to reuse that name: that name is already in use`,
      )
    if (holder) throw httpError(409, `Conflict. The container name "/${options.name}" is already in use`)
    if (!this.images.includes(options.Image)) throw httpError(404, `No such image: ${options.Image}`)
    const container = {
      id: `id${this.next++}`,
      name: options.name,
      image: options.Image,
      cmd: options.Cmd,
      labels: options.Labels,
      created: new Date().toISOString(),
    }
    this.containers.push(container)
    return { id: container.id }
  }

  getContainer(ref: string) {
    const find = () => this.containers.find((c) => c.id === ref || c.name === ref)
    return {
      inspect: async () => {
        const c = find()
        if (!c) throw httpError(404, `No such container: ${ref}`)
        return { Id: c.id, Created: c.created, Config: { Labels: c.labels } }
      },
      remove: async () => {
        const c = find()
        if (!c) throw httpError(404, `No such container: ${ref}`)
        this.containers = this.containers.filter((x) => x !== c)
      },
    }
  }

  getImage(ref: string) {
    return {
      inspect: async () => {
        if (!this.images.includes(ref)) throw httpError(404, `No such image: ${ref}`)
        return { Id: `sha256:${ref}` }
      },
    }
  }

  async listImages() {
    return this.images.map((ref) => ({ Id: `sha256:${ref}` }))
  }

  // A lock as a run on another machine would have left it.
  addLock(deployment: string, labels: Record<string, string>): FakeContainer {
    const container = { id: `id${this.next++}`, name: lockName(deployment), image: 'other:1', labels, created: new Date().toISOString() }
    this.containers.push(container)
    return container
  }

  get asDocker(): Docker {
    return this as unknown as Docker
  }
}

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
    const docker = new FakeDocker()
    const log = recorder()
    let during: FakeContainer[] = []
    const result = await withDeploymentLock(docker.asDocker, 'pr-42', options(log), async () => {
      during = [...docker.containers]
      return 'done'
    })
    expect(result).toBe('done')
    expect(during).toHaveLength(1)
    const [lock] = during
    expect(lock.name).toBe('pr-42-lock')
    expect(lock.image).toBe('vic-lb-test/haproxy:2.6')
    // A VCH refuses a container without a command.
    expect(lock.cmd?.length).toBeGreaterThan(0)
    expect(lock.labels[LABEL.deployment]).toBe('pr-42')
    expect(lock.labels[LABEL.role]).toBe('lock')
    expect(lock.labels[LABEL.holder]).toBe('run 7/1')
    expect(lock.labels[LABEL.operation]).toBe('deploy')
    expect(Date.now() - new Date(lock.labels[LABEL.created]).getTime()).toBeLessThan(5000)
    expect(docker.containers).toEqual([])
    expect(log.warnings).toEqual([])
  })

  it('releases the lock when fn fails, and passes the failure on', async () => {
    const docker = new FakeDocker()
    const failing = withDeploymentLock(docker.asDocker, 'pr-1', options(recorder()), async () => {
      throw new Error('deploy failed')
    })
    await expect(failing).rejects.toThrow('deploy failed')
    expect(docker.containers).toEqual([])
  })

  it('makes a second run wait for the first, saying for what, since when and for whom', async () => {
    const docker = new FakeDocker()
    const order: string[] = []
    const firstLog = recorder()
    const secondLog = recorder()
    const first = withDeploymentLock(docker.asDocker, 'pr-42', options(firstLog, { holder: 'run 100/1' }), async () => {
      order.push('first starts')
      await sleep(60)
      order.push('first ends')
    })
    await sleep(5)
    const second = withDeploymentLock(docker.asDocker, 'pr-42', options(secondLog, { holder: 'run 101/1', operation: 'teardown' }), async () => {
      order.push('second starts')
      order.push('second ends')
    })
    await Promise.all([first, second])
    expect(order).toEqual(['first starts', 'first ends', 'second starts', 'second ends'])
    const waiting = secondLog.infos.find((m) => m.startsWith('Waiting for'))
    expect(waiting).toMatch(/^Waiting for the deploy of 'pr-42' started at \d{4}-\d\d-\d\dT[\d:.]+Z by run 100\/1 /)
    expect(secondLog.infos.at(-1)).toMatch(/^Took the lock pr-42-lock after waiting/)
    expect(firstLog.infos).toEqual([])
    expect(docker.containers).toEqual([])
  })

  it('waits on Podman too, where a taken name is a 500, not a 409', async () => {
    const docker = new FakeDocker(PODMAN)
    const order: string[] = []
    const first = withDeploymentLock(docker.asDocker, 'pr-6', options(recorder(), { host: PODMAN }), async () => {
      order.push('first starts')
      await sleep(40)
      order.push('first ends')
    })
    await sleep(5)
    const secondLog = recorder()
    await withDeploymentLock(docker.asDocker, 'pr-6', options(secondLog, { host: PODMAN }), async () => order.push('second'))
    await first
    expect(order).toEqual(['first starts', 'first ends', 'second'])
    expect(secondLog.infos.at(-1)).toMatch(/^Took the lock pr-6-lock after waiting/)
  })

  it('takes a 500 that is not about the name for the failure it is, on Podman as elsewhere', async () => {
    const docker = new FakeDocker(PODMAN)
    docker.createContainer = async () => {
      throw httpError(500, 'runc: error setting rlimit type 7')
    }
    const attempt = withDeploymentLock(docker.asDocker, 'pr-6', options(recorder(), { host: PODMAN }), async () => 'ran')
    await expect(attempt).rejects.toThrow(/^Could not create the lock container pr-6-lock .*rlimit/)
    // dockerd's 500 "already in use" would be a failure, since dockerd says 409 for a clash.
    const dockerd = new FakeDocker(DOCKER)
    dockerd.createContainer = async () => {
      throw httpError(500, 'the name is already in use by a stuck container')
    }
    await expect(withDeploymentLock(dockerd.asDocker, 'pr-6', options(recorder()), async () => 'ran')).rejects.toThrow(/^Could not create the lock container/)
  })

  it('reports while waiting at most once per report interval', async () => {
    const docker = new FakeDocker()
    docker.addLock('pr-5', { [LABEL.deployment]: 'pr-5', [LABEL.role]: 'lock', [LABEL.created]: new Date().toISOString(), [LABEL.holder]: 'run 1/1' })
    const log = recorder()
    setTimeout(() => (docker.containers = []), 120)
    await withDeploymentLock(docker.asDocker, 'pr-5', options(log, { reportEveryMs: 1000 }), async () => undefined)
    expect(log.infos.filter((m) => m.startsWith('Waiting for'))).toHaveLength(1)
    expect(docker.creates).toBeGreaterThan(3)
  })

  it('keeps two deployments apart: their locks do not wait for each other', async () => {
    const docker = new FakeDocker()
    const log = recorder()
    await withDeploymentLock(docker.asDocker, 'pr-1', options(log), () =>
      withDeploymentLock(docker.asDocker, 'pr-2', options(log), async () =>
        expect(docker.containers.map((c) => c.name).sort()).toEqual(['pr-1-lock', 'pr-2-lock']),
      ),
    )
    expect(log.infos).toEqual([])
  })

  it('takes over a lock older than the timeout, with a warning naming its holder', async () => {
    const docker = new FakeDocker()
    const stale = docker.addLock('pr-9', {
      [LABEL.deployment]: 'pr-9',
      [LABEL.role]: 'lock',
      [LABEL.created]: '2020-01-01T00:00:00.000Z',
      [LABEL.holder]: 'run 55/2',
      [LABEL.operation]: 'teardown',
    })
    const log = recorder()
    let held: FakeContainer | undefined
    await withDeploymentLock(docker.asDocker, 'pr-9', options(log), async () => {
      held = docker.containers[0]
    })
    expect(held?.id).not.toBe(stale.id)
    expect(held?.labels[LABEL.holder]).toBe('run 7/1')
    expect(log.warnings).toHaveLength(1)
    expect(log.warnings[0]).toMatch(
      /^Taking over the lock pr-9-lock of deployment 'pr-9': it was taken for the teardown started at 2020-01-01T00:00:00.000Z by run 55\/2, longer ago than wait-timeout \(5 s\)/,
    )
    expect(docker.containers).toEqual([])
  })

  it('takes over at once a lock whose holder process on this machine no longer runs', async () => {
    const docker = new FakeDocker()
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
    docker.addLock('pr-8', lock)
    const log = recorder()
    const started = Date.now()
    await withDeploymentLock(docker.asDocker, 'pr-8', options(log, { timeoutSeconds: 60 }), async () => undefined)
    expect(Date.now() - started).toBeLessThan(1000)
    expect(log.warnings[0]).toMatch(/by run 9\/1, whose process on this machine no longer runs\.$/)
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
    const docker = new FakeDocker()
    docker.addLock('pr-6', { [LABEL.deployment]: 'pr-6', [LABEL.role]: 'lock', [LABEL.created]: new Date().toISOString(), [LABEL.holder]: 'run 1/1' })
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('cancelled')), 50)
    const started = Date.now()
    let ran = false
    await expect(
      withDeploymentLock(docker.asDocker, 'pr-6', options(recorder(), { timeoutSeconds: 60, pollMs: 10_000, signal: controller.signal }), async () => {
        ran = true
      }),
    ).rejects.toThrow('cancelled')
    expect(Date.now() - started).toBeLessThan(1000)
    expect(ran).toBe(false)
    expect(docker.containers).toHaveLength(1)
  })

  it('gives up after the timeout while live runs keep holding the lock, saying how to go on', async () => {
    const docker = new FakeDocker()
    // Runs ahead in the queue take the lock one after the other, each lock younger than the timeout.
    const renew = () => {
      docker.containers = []
      docker.addLock('pr-3', { [LABEL.deployment]: 'pr-3', [LABEL.role]: 'lock', [LABEL.created]: new Date().toISOString(), [LABEL.holder]: 'run 1/1' })
    }
    renew()
    const queue = setInterval(renew, 300)
    let ran = false
    try {
      const waiter = withDeploymentLock(docker.asDocker, 'pr-3', options(recorder(), { timeoutSeconds: 1 }), async () => {
        ran = true
      })
      await expect(waiter).rejects.toThrow(
        /^Gave up after 1 s \(wait-timeout\) waiting for the deploy of 'pr-3' started at .+ by run 1\/1\. .*docker rm -f pr-3-lock/,
      )
    } finally {
      clearInterval(queue)
    }
    expect(ran).toBe(false)
    expect(docker.containers.map((c) => c.labels[LABEL.holder])).toEqual(['run 1/1'])
  })

  it('refuses a container with the lock name that is not the lock of this deployment', async () => {
    const docker = new FakeDocker()
    docker.addLock('pr-7', { [LABEL.deployment]: 'other', [LABEL.role]: 'lb' })
    const attempt = withDeploymentLock(docker.asDocker, 'pr-7', options(recorder()), async () => 'ran')
    await expect(attempt).rejects.toThrow(
      /^A container named pr-7-lock exists on the Docker host and is not the lock of deployment 'pr-7' \(it belongs to deployment 'other'\)\. .*instance-prefix/,
    )
    docker.containers = []
    docker.addLock('pr-7', {})
    await expect(withDeploymentLock(docker.asDocker, 'pr-7', options(recorder()), async () => 'ran')).rejects.toThrow(
      /not the lock of deployment 'pr-7'\. Rename/,
    )
  })

  it('says which image it could not create the lock from', async () => {
    const docker = new FakeDocker()
    const attempt = withDeploymentLock(docker.asDocker, 'pr-8', options(recorder(), { image: 'missing:1' }), async () => 'ran')
    await expect(attempt).rejects.toThrow(
      /^Could not create the lock container pr-8-lock of deployment 'pr-8' from image missing:1: No such image: missing:1\./,
    )
  })

  it('warns, and does not fail, when its lock was taken over while it ran', async () => {
    const docker = new FakeDocker()
    const log = recorder()
    const result = await withDeploymentLock(docker.asDocker, 'pr-4', options(log), async () => {
      docker.containers = []
      docker.addLock('pr-4', { [LABEL.deployment]: 'pr-4', [LABEL.role]: 'lock', [LABEL.holder]: 'run 2/1' })
      return 'finished'
    })
    expect(result).toBe('finished')
    expect(log.warnings).toEqual([expect.stringMatching(/^The lock pr-4-lock of deployment 'pr-4' was taken over by another run/)])
    // The other run's lock is not ours to remove.
    expect(docker.containers.map((c) => c.labels[LABEL.holder])).toEqual(['run 2/1'])
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
    const docker = new FakeDocker()
    expect(await imageOnHost(docker.asDocker, 'vic-lb-test/haproxy:2.6')).toBe('vic-lb-test/haproxy:2.6')
    expect(await imageOnHost(docker.asDocker, 'haproxy:3.2')).toBe('sha256:vic-lb-test/haproxy:2.6')
    docker.images = []
    expect(await imageOnHost(docker.asDocker, 'haproxy:3.2')).toBeUndefined()
  })
})
