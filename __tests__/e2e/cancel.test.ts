import { afterAll, describe, expect, it } from 'vitest'
import { startLoad } from '../../test-support/load'
import { silentServer } from '../../test-support/silent-server'
import {
  IMAGES,
  distinctAnswers,
  docker,
  explain,
  freePort,
  lbConfig,
  localInputs,
  objectsOf,
  removeDeployment,
  runAction,
  runPost,
  startAction,
  uniquePrefix,
  type ActionRun,
  type StartedAction,
  sleep,
  until,
} from './harness'

// Cancelled runs, as the Actions runner cancels them: SIGINT, then SIGTERM 7.5 s later, then
// SIGKILL 2.5 s after that, and then the post step with the state the main step saved. Cancelled at
// each stage of a deploy (the pull, the starts, the readiness wait, the load-balancer switch), a
// run stops at once, leaves a deployment that served before serving, removes what it created and
// releases its lock; the next run of the deployment completes in under 30 s. A main step killed
// outright is settled by its post step, or, when even that never ran, by the next run.
// Traffic goes only to 127.0.0.1: the published load-balancers and a silent local "registry".

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

const SIGTERM_AFTER_MS = 7_500
const SIGKILL_AFTER_MS = 2_500

interface Cancelled {
  run: ActionRun
  // The signals it took to end the main step, and how long after the first it ended.
  signals: NodeJS.Signals[]
  endedAfterMs: number
}

function exited(started: StartedAction): Promise<void> {
  if (started.child.exitCode !== null || started.child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => started.child.once('exit', () => resolve()))
}

// Stops the run (SIGSTOP) the moment it logs `text`: from the output handler, not from a poll of
// the Docker host, so the signals that follow land at that step however fast the engine goes on.
function frozenAt(started: StartedAction, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const look = (): void => {
      if (!started.output().includes(text)) return
      started.child.stdout!.off('data', look)
      started.child.kill('SIGSTOP')
      resolve()
    }
    started.child.stdout!.on('data', look)
    void started.finished.then((run) => reject(new Error(`The run ended before logging '${text}'.\n${explain(run)}`)))
  })
}

// Logged once the old load-balancer has stopped and given its name to the new one, not yet started.
const steppedAside = (prefix: string): string => `Stopped load-balancer ${prefix}-lb to replace it`

// The runner's signal sequence; each next signal only if the step still runs (SIGCONT: a frozen
// run takes the signal once it goes on).
async function cancelAsTheRunner(started: StartedAction): Promise<Cancelled> {
  const sentAt = Date.now()
  const signals: NodeJS.Signals[] = []
  const ended = exited(started).then(() => true)
  for (const [signal, waitMs] of [
    ['SIGINT', SIGTERM_AFTER_MS],
    ['SIGTERM', SIGKILL_AFTER_MS],
    ['SIGKILL', 10_000],
  ] as const) {
    signals.push(signal)
    started.child.kill(signal)
    started.child.kill('SIGCONT')
    if (await Promise.race([ended, sleep(waitMs).then(() => false)])) break
  }
  await ended
  const endedAfterMs = Date.now() - sentAt
  return { run: await started.finished, signals, endedAfterMs }
}

// A main step killed outright, as SIGKILL ends one whose undo takes too long.
async function kill(started: StartedAction): Promise<ActionRun> {
  started.child.kill('SIGKILL')
  return started.finished
}

function expectPromptCancel({ run, signals, endedAfterMs }: Cancelled): void {
  // Ended by SIGINT alone, within a few seconds, failing with the reason.
  expect(signals, explain(run)).toEqual(['SIGINT'])
  expect(endedAfterMs, explain(run)).toBeLessThan(5_000)
  expect(run.code, explain(run)).toBe(1)
  expect(run.stdout).toContain('::error::The run was cancelled (SIGINT)')
}

async function expectNothingForPost(inputs: Record<string, string>, run: ActionRun): Promise<void> {
  const post = await runPost(inputs, run.state)
  expect(post.code, explain(post)).toBe(0)
  expect(post.stdout).toContain('Nothing to clean up')
}

// The next run of the deployment, timed, and what it leaves: one generation, no leftovers.
async function redeployAfter(prefix: string, inputs: Record<string, string>, instances: number): Promise<ActionRun> {
  const started = Date.now()
  const next = await runAction(inputs)
  const seconds = (Date.now() - started) / 1000
  console.log(`${prefix}: the next deploy completed in ${seconds.toFixed(1)} s`)
  expect(next.code, explain(next)).toBe(0)
  expect(seconds).toBeLessThan(30)
  const names = objectsOf(prefix)
  expect(names.filter((n) => /-(lock|next|old)$/.test(n))).toEqual([])
  const instanceNames = JSON.parse(next.outputs.instances) as string[]
  expect(instanceNames).toHaveLength(instances)
  expect(names.sort()).toEqual([...instanceNames, `${prefix}-lb`, `${prefix}-net`].sort())
  expect(new Set(instanceNames.map((n) => n.slice(prefix.length + 1).split('-')[0])).size).toBe(1)
  expect((await distinctAnswers(next.outputs.url)).size).toBe(instances)
  return next
}

async function deployed(
  tag: string,
  extra: Record<string, string> = {},
): Promise<{ prefix: string; inputs: Record<string, string>; first: ActionRun; before: string[] }> {
  const prefix = uniquePrefix(tag)
  created.push(prefix)
  const inputs = await localInputs(prefix, { instances: '3', ...extra })
  const first = await runAction(inputs)
  expect(first.code, explain(first)).toBe(0)
  return { prefix, inputs, first, before: objectsOf(prefix) }
}

describe('a run cancelled as the runner cancels it', () => {
  it('during the pull: stops at once, and the deployment goes on serving untouched', async () => {
    const { prefix, inputs, first, before } = await deployed('cxpull')
    const registry = await silentServer()
    try {
      const started = startAction({ ...inputs, image: `127.0.0.1:${registry.port}/web:2` })
      await until('the pull', () => started.output().includes('::group::Pull images'))
      await sleep(500)
      const cancelled = await cancelAsTheRunner(started)
      expectPromptCancel(cancelled)
      expect(objectsOf(prefix)).toEqual(before)
      expect((await distinctAnswers(first.outputs.url)).size).toBe(3)
      await expectNothingForPost(inputs, cancelled.run)
    } finally {
      registry.close()
    }
    await redeployAfter(prefix, { ...inputs, image: IMAGES.web2 }, 3)
  })

  it('while connecting to a Docker host that does not answer: stops at once', async () => {
    const prefix = uniquePrefix('cxconnect')
    created.push(prefix)
    const host = await silentServer()
    try {
      const started = startAction(await localInputs(prefix, { 'docker-host': `tcp://127.0.0.1:${host.port}` }))
      await until('the connection attempt', () => started.output().includes('::group::Connect to the Docker host'))
      await sleep(1_000)
      const cancelled = await cancelAsTheRunner(started)
      expectPromptCancel(cancelled)
      expect(cancelled.endedAfterMs).toBeLessThan(2_000)
      await expectNothingForPost({}, cancelled.run)
    } finally {
      host.close()
    }
  })

  it('during the starts of a first deploy: removes everything it created; a teardown then finds nothing', async () => {
    const prefix = uniquePrefix('cxstart')
    created.push(prefix)
    const inputs = await localInputs(prefix, { instances: '12' })
    const started = startAction(inputs)
    await until('the first start', () => /^Started /m.test(started.output()))
    const cancelled = await cancelAsTheRunner(started)
    expectPromptCancel(cancelled)
    console.log(`cancelled during the starts: ${(cancelled.run.stdout.match(/^Started /gm) ?? []).length} container(s) had started`)
    expect(objectsOf(prefix)).toEqual([])
    await expectNothingForPost(inputs, cancelled.run)
    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix })
    expect(down.code, explain(down)).toBe(0)
    expect(down.stdout).toContain('Nothing to remove')
    expect(objectsOf(prefix)).toEqual([])
  })

  it('while waiting for readiness: no request fails, the previous generation serves, the next deploy completes', async () => {
    const { prefix, inputs, first, before } = await deployed('cxready')
    const load = startLoad(first.outputs.url)
    // Instances that never get healthy keep the deploy waiting.
    const started = startAction({ ...inputs, image: IMAGES.silent })
    await until('the readiness wait', () => started.output().includes('::group::Wait until every instance serves'))
    await sleep(1_000)
    const cancelled = await cancelAsTheRunner(started)
    await sleep(1_000)
    const report = await load.stop()
    expectPromptCancel(cancelled)
    expect(report.failures).toEqual([])
    expect(report.failed).toBe(0)
    expect(objectsOf(prefix)).toEqual(before)
    expect(lbConfig(prefix)).not.toContain('backend candidates')
    await expectNothingForPost(inputs, cancelled.run)
    await redeployAfter(prefix, { ...inputs, image: IMAGES.web2, instances: '2' }, 2)
  })

  it('during the switch to a new load-balancer: the previous one serves again', async () => {
    const { prefix, inputs, first, before } = await deployed('cxswitch')
    // A new lb-port needs a new load-balancer: the old one stops and gives it its name.
    const moved = { ...inputs, 'lb-port': String(await freePort()) }
    const started = startAction(moved)
    await frozenAt(started, steppedAside(prefix))
    const cancelled = await cancelAsTheRunner(started)
    expectPromptCancel(cancelled)
    expect(objectsOf(prefix)).toEqual(before)
    expect(docker('inspect', '-f', '{{.Id}} {{.State.Running}}', `${prefix}-lb`)).toBe(`${first.outputs['lb-container']} true`)
    expect((await distinctAnswers(first.outputs.url)).size).toBe(3)
    await expectNothingForPost(inputs, cancelled.run)
    await redeployAfter(prefix, { ...moved, instances: '2' }, 2)
  })
})

describe('a main step killed outright', () => {
  it('in the middle of the switch: the post step starts the previous load-balancer again and releases the lock', async () => {
    const { prefix, inputs, first, before } = await deployed('killpost')
    const moved = { ...inputs, 'lb-port': String(await freePort()) }
    const started = startAction(moved)
    await frozenAt(started, steppedAside(prefix))
    const killed = await kill(started)
    expect(objectsOf(prefix)).toContain(`${prefix}-lock`)
    const post = await runPost(moved, killed.state)
    expect(post.code, explain(post)).toBe(0)
    expect(post.stdout).toContain('Started the previous load-balancer')
    expect(post.stdout).toContain('Released the lock')
    expect(post.stdout).not.toContain('::warning::')
    expect(objectsOf(prefix)).toEqual(before)
    expect(docker('inspect', '-f', '{{.Id}} {{.State.Running}}', `${prefix}-lb`)).toBe(`${first.outputs['lb-container']} true`)
    expect((await distinctAnswers(first.outputs.url)).size).toBe(3)
    await redeployAfter(prefix, { ...moved, image: IMAGES.web2 }, 3)
  })

  it('while waiting for readiness: the post step restores the configuration and removes the new instances', async () => {
    const { prefix, inputs, first, before } = await deployed('killready')
    const started = startAction({ ...inputs, image: IMAGES.silent })
    await until('the readiness wait', () => started.output().includes('::group::Wait until every instance serves'))
    await sleep(500)
    const killed = await kill(started)
    const post = await runPost(inputs, killed.state)
    expect(post.code, explain(post)).toBe(0)
    expect(post.stdout).toContain('Restored the configuration')
    expect(post.stdout).not.toContain('::warning::')
    expect(objectsOf(prefix)).toEqual(before)
    expect(lbConfig(prefix)).not.toContain('backend candidates')
    expect((await distinctAnswers(first.outputs.url)).size).toBe(3)
  })

  it('with no post step at all (a runner that died): the next run takes the lock over at once and finishes the switch', async () => {
    const { prefix, inputs } = await deployed('killnext')
    const moved = { ...inputs, 'lb-port': String(await freePort()) }
    const started = startAction(moved)
    await frozenAt(started, steppedAside(prefix))
    await kill(started)
    expect(objectsOf(prefix)).toEqual(expect.arrayContaining([`${prefix}-lock`, `${prefix}-lb-old`]))
    const next = await redeployAfter(prefix, moved, 3)
    expect(next.stdout).toContain('whose process on this machine no longer runs')
  })

  it('with no post step, killed while replacing the load-balancer: a teardown removes both load-balancers and leaves nothing', async () => {
    const { prefix, inputs } = await deployed('killtear')
    const started = startAction({ ...inputs, 'lb-port': String(await freePort()) })
    await frozenAt(started, steppedAside(prefix))
    await kill(started)
    // The previous load-balancer and its replacement, under the name.
    expect(objectsOf(prefix).filter((name) => name.startsWith(`${prefix}-lb`))).toHaveLength(2)
    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix })
    expect(down.code, explain(down)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
  })

  it('during the starts of a first deploy, with no post step: a teardown takes the lock over and leaves nothing', async () => {
    const prefix = uniquePrefix('killfirst')
    created.push(prefix)
    const started = startAction(await localInputs(prefix, { instances: '12' }))
    await until('the first start', () => /^Started /m.test(started.output()))
    await kill(started)
    expect(objectsOf(prefix)).toContain(`${prefix}-lock`)
    const begun = Date.now()
    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix })
    expect(down.code, explain(down)).toBe(0)
    expect(Date.now() - begun).toBeLessThan(30_000)
    expect(down.stdout).toContain('whose process on this machine no longer runs')
    expect(objectsOf(prefix)).toEqual([])
  })
})
