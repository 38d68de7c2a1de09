import { describe, expect, it } from 'vitest'
import { CancelledError } from '../src/cancel'
import type { DeploymentState, InstanceObject } from '../src/docker/state'
import { LABEL } from '../src/labels'
import { log } from '../src/log'
import { planDeploy, type DeployPlan } from '../src/plan'
import { releaseNeeded, runRelease } from '../src/release/run'
import { undo } from '../src/steps/undo'
import { FakeHost, contextOf, emptyPlan, ownLbOf, recordLog } from './fake-docker-host'

// The release command's one-off container on the fake host: when it runs, what it gets, and that
// it never stays, whatever its outcome.

const COMMAND = ['sh', '-c', 'echo migrated']
const names = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `web-g2-${i + 1}`, index: i + 1 }))
const newGeneration = (change: Partial<DeployPlan> = {}) =>
  emptyPlan({ create: names(2), serving: names(2).map((i) => ({ name: i.name, port: 80 })), ...change })
const running = (generation: string, index: number): InstanceObject => ({
  id: `id-${generation}-${index}`,
  name: `web-${generation}-${index}`,
  generation,
  index,
  port: 80,
  running: true,
})

function planFor(state: Omit<DeploymentState, 'services' | 'volumes'>, instances: number) {
  return planDeploy(
    { deployment: 'web', generation: 'g2', instances, instancePort: 80, lbName: 'web-lb', lbSpec: 'spec-1' },
    { ...state, services: [], volumes: [] },
  )
}

describe('releaseNeeded', () => {
  const settings = { releaseCommand: COMMAND }
  const lb = { id: 'lb', name: 'web-lb', spec: 'spec-1', running: true }
  const networks = [{ id: 'net', name: 'web-net' }]

  it('runs on a first deploy and on a new generation beside the serving one', () => {
    expect(releaseNeeded({ settings, plan: planFor({ instances: [], networks: [] }, 2) })).toBe(true)
    expect(releaseNeeded({ settings, plan: planFor({ instances: [running('g1', 1), running('g1', 2)], lb, networks }, 2) })).toBe(true)
  })

  it('does not run again for a generation that serves: an unchanged re-run, a scale-up, a crashed instance replaced', () => {
    const serving = [running('g2', 1), running('g2', 2)]
    expect(releaseNeeded({ settings, plan: planFor({ instances: serving, lb, networks }, 2) })).toBe(false)
    expect(releaseNeeded({ settings, plan: planFor({ instances: serving, lb, networks }, 5) })).toBe(false)
    expect(releaseNeeded({ settings, plan: planFor({ instances: [serving[0], { ...serving[1], running: false }], lb, networks }, 2) })).toBe(false)
  })

  it('runs again for a generation none of whose instances runs any more, and never without a command', () => {
    const stopped = [running('g2', 1), running('g2', 2)].map((i) => ({ ...i, running: false }))
    expect(releaseNeeded({ settings, plan: planFor({ instances: stopped, lb, networks }, 2) })).toBe(true)
    expect(releaseNeeded({ settings: {}, plan: planFor({ instances: [], networks: [] }, 2) })).toBe(false)
  })
})

describe('runRelease', () => {
  const WITH_INSTANCE_CONFIG = {
    releaseCommand: COMMAND,
    instanceConfig: {
      env: [{ key: 'MODE', value: 'preview' }],
      secretEnv: [{ key: 'DB_PASSWORD', value: 's3cret-value' }],
      command: ['serve'],
      memoryBytes: 2 ** 29,
      cpus: 1,
    },
  }

  it('runs the command once in a container of the new image, as an instance runs, on the new network, and removes it', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    host.exits.set('web-release-g2', { exitCode: 0, logs: 'migrated\nconnecting with s3cret-value\n' })
    log.setSecret('s3cret-value')
    const { ctx, remembered } = contextOf(host, newGeneration({ createNetwork: true }), { settings: WITH_INSTANCE_CONFIG })
    const outcome = await runRelease(ctx)

    expect(outcome.seconds).toBeGreaterThanOrEqual(0)
    expect(host.calls).toEqual(['create network web-net', 'create web-release-g2', 'start web-release-g2', 'wait web-release-g2', 'remove web-release-g2'])
    expect(host.byName('web-release-g2')).toBeUndefined()
    // The post step knows the run before anything is created; the undo still owns the network only.
    expect(remembered[0]).toMatchObject({ deployment: 'web' })
    expect(ctx.record.createdNetworks).toEqual(['net-web-net'])
    expect(ctx.record.createdContainers).toEqual([])
    // Quoted: a line of it that looks like a workflow command is not obeyed on the runner.
    expect(lines.join('\n')).toContain('Its output (at most the last 50 lines):\nquoted: migrated\nconnecting with ***')
    expect(lines.some((l) => /^The release command exited 0 after [\d.]+ s: generation g2 starts\.$/.test(l))).toBe(true)
    expect(lines.join('\n')).not.toContain('s3cret-value')
  })

  it("gives the container the instances' env, secret-env and size, the command instead of theirs, and no restart policy", async () => {
    recordLog()
    const host = new FakeHost()
    host.exits.set('web-release-g2', { exitCode: 0 })
    let spec: unknown
    const create = host.createContainer.bind(host)
    host.createContainer = async (s) => ((spec = s), create(s))
    const { ctx } = contextOf(host, newGeneration(), { settings: WITH_INSTANCE_CONFIG })
    await runRelease(ctx)
    expect(spec).toEqual({
      name: 'web-release-g2',
      Image: 'nginx:1.27',
      Labels: expect.objectContaining({ [LABEL.deployment]: 'web', [LABEL.role]: 'release', [LABEL.generation]: 'g2', [LABEL.run]: expect.any(String) }),
      Env: ['MODE=preview', 'DB_PASSWORD=s3cret-value'],
      Cmd: COMMAND,
      HostConfig: { NetworkMode: 'web-net', Memory: 2 ** 29, NanoCpus: 1e9 },
      NetworkingConfig: { EndpointsConfig: { 'web-net': {} } },
    })
    expect(JSON.stringify((spec as { Labels: object }).Labels)).not.toContain('s3cret-value')
  })

  it('fails with the exit code and the last lines of output on a non-zero exit, removes the container, and the undo leaves nothing', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    const output = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n')
    host.exits.set('web-release-g2', { exitCode: 3, logs: `${output}\n` })
    const { ctx } = contextOf(host, newGeneration({ createNetwork: true }), { settings: { releaseCommand: COMMAND } })

    const error = await runRelease(ctx).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(error?.message).toMatch(
      /^The release command exited with code 3 after [\d.]+ s: generation g2 was not started, and what served before goes on serving\./,
    )
    expect(error?.message).toContain('Its last output:\nline 21\n')
    expect(error?.message).toContain('line 30\nFix the command')
    expect(error?.message).not.toContain('line 20\n')
    expect(lines.join('\n')).toContain(output)
    expect(host.byName('web-release-g2')).toBeUndefined()
    await undo(ctx, ownLbOf(ctx))
    expect(host.containers.size).toBe(0)
    expect(host.networks.size).toBe(0)
  })

  it('stops and removes a command still running when wait-timeout is up', async () => {
    recordLog()
    const host = new FakeHost()
    const { ctx } = contextOf(host, newGeneration(), { settings: { releaseCommand: ['sleep', '600'], waitTimeoutSeconds: 1 } })
    ctx.deadline = Date.now() + 50
    await expect(runRelease(ctx)).rejects.toThrow(
      /^The release command did not finish within wait-timeout \(1 s\) after [\d.]+ s: .*Make it finish sooner or raise wait-timeout/s,
    )
    expect(host.calls.at(-1)).toBe('remove web-release-g2')
    expect(host.containers.size).toBe(0)
  })

  it('stops and removes a command still running when the run is cancelled, with the cancellation as the reason', async () => {
    recordLog()
    const host = new FakeHost()
    const controller = new AbortController()
    const { ctx } = contextOf(host, newGeneration(), { settings: { releaseCommand: ['sleep', '600'] }, signal: controller.signal })
    const released = runRelease(ctx)
    while (!host.calls.includes('wait web-release-g2')) await new Promise((resolve) => setImmediate(resolve))
    controller.abort(new CancelledError('The run was cancelled (SIGINT).'))
    await expect(released).rejects.toThrow('The run was cancelled (SIGINT).')
    expect(host.calls.at(-1)).toBe('remove web-release-g2')
    expect(host.containers.size).toBe(0)
  })

  it('removes the container when it cannot start, saying what to check', async () => {
    recordLog()
    const host = new FakeHost()
    host.fail('start web-release-g2', new Error('exec: "migrate": executable file not found in $PATH'))
    const { ctx } = contextOf(host, newGeneration(), { settings: { releaseCommand: ['migrate'] } })
    await expect(runRelease(ctx)).rejects.toThrow(
      /Could not start the release command in web-release-g2: .*executable file not found.*names a program of nginx:1\.27.*never through a shell/,
    )
    expect(host.containers.size).toBe(0)
  })

  it("removes a release container an earlier, killed run left before it creates its own; another deployment's stays", async () => {
    const lines = recordLog()
    const host = new FakeHost()
    host.add({ name: 'web-release-g2', labels: { [LABEL.deployment]: 'web', [LABEL.role]: 'release' } })
    host.add({ name: 'api-release-g2', labels: { [LABEL.deployment]: 'api', [LABEL.role]: 'release' } })
    host.exits.set('web-release-g2', { exitCode: 0 })
    const { ctx } = contextOf(host, newGeneration(), { settings: { releaseCommand: COMMAND } })
    await runRelease(ctx)
    expect(host.calls.slice(0, 2)).toEqual(['remove web-release-g2', 'create web-release-g2'])
    expect(lines).toContain("Removed the release command's container(s) an earlier run left: web-release-g2")
    expect([...host.containers.values()].map((c) => c.name)).toEqual(['api-release-g2'])
  })

  it('warns and leaves the container to the undo when it cannot be removed', async () => {
    const lines = recordLog()
    const host = new FakeHost()
    host.exits.set('web-release-g2', { exitCode: 0 })
    host.fail('remove web-release-g2', new Error('connection reset'))
    const { ctx } = contextOf(host, newGeneration(), { settings: { releaseCommand: COMMAND } })
    await runRelease(ctx)
    expect(lines.some((l) => l.startsWith("warning: Could not remove the release command's container web-release-g2: connection reset."))).toBe(true)
    expect(ctx.record.createdContainers).toHaveLength(1)
    await undo(ctx, ownLbOf(ctx))
    expect(host.containers.size).toBe(0)
  })
})
