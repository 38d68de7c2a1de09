import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLoad } from '../../test-support/load'
import { startVchProxy, type VchProxy } from '../../test-support/vch-proxy'
import {
  IMAGES,
  ON_DOCKERD,
  deploymentsRemovedAfterAll,
  distinctAnswers,
  explain,
  expectNowhere,
  localInputs,
  objectsOf,
  runAction,
  runPost,
  sleep,
  startAction,
  until,
  type ActionRun,
} from './harness'

// The release command (release-command) on a real engine: it runs once per new generation in a
// one-off container of the new image, with the instances' env, secret-env and network, before the
// generation's instances start; a failure, a timeout or a cancel leaves the previous generation
// serving and nothing of the new one, and the one-off container never remains. The commands are
// busybox command lines of the test image, given as JSON arrays: the action adds no shell.

const newPrefix = deploymentsRemovedAfterAll()
const GROUP = '::group::Release command'
const releaseContainers = (prefix: string): string[] => objectsOf(prefix).filter((name) => name.startsWith(`${prefix}-release-`))
const command = (line: string): string => JSON.stringify(['sh', '-c', line])

function expectRan(run: ActionRun): void {
  expect(run.code, explain(run)).toBe(0)
  expect(run.stdout.split(GROUP)).toHaveLength(2)
  expect(run.stdout).toMatch(/The release command exited 0 after [\d.]+ s: generation [\w-]+ starts\./)
  expect(run.summary).toMatch(/Release command <code>.*<\/code>: ran in [\d.]+ s/)
}

function expectNotRun(run: ActionRun): void {
  expect(run.code, explain(run)).toBe(0)
  expect(run.stdout).not.toContain(GROUP)
  expect(run.summary).toContain('not run, this generation already served')
}

async function deployed(tag: string, extra: Record<string, string> = {}): Promise<{ prefix: string; inputs: Record<string, string>; first: ActionRun }> {
  const prefix = newPrefix(tag)
  const inputs = await localInputs(prefix, { instances: '2', ...extra })
  const first = await runAction(inputs)
  expect(first.code, explain(first)).toBe(0)
  return { prefix, inputs, first }
}

// Every answer comes from the first image: the new generation never served.
async function expectServingV1(url: string): Promise<void> {
  const answers = await distinctAnswers(url, 10)
  expect(
    [...answers].every((a) => a.startsWith('200 web v1')),
    [...answers].join(', '),
  ).toBe(true)
}

describe('release-command', () => {
  it("runs once per new generation, with the instances' env, secret-env (masked) and network; not on an unchanged re-run or a scale-up", async () => {
    const secret = `pw-${randomBytes(6).toString('hex')}`
    const { prefix, inputs, first } = await deployed('relonce', {
      env: 'APP_MODE=preview',
      'secret-env': `DB_PASSWORD=${secret}`,
      'release-command': command('echo "migrating $APP_MODE"; echo "connecting with $DB_PASSWORD"; echo "::warning::from the command"'),
    })
    expectRan(first)
    expect(first.stdout).toContain('migrating preview')
    expect(first.stdout).toContain('connecting with ***')
    // Its output between stop-commands: the runner shows that line and makes no warning of it.
    expect(first.stdout).toMatch(/^::stop-commands::(\S+)\nmigrating preview\nconnecting with \*\*\*\n::warning::from the command\n::\1::$/m)
    expectNowhere(first, [secret])
    expect(releaseContainers(prefix)).toEqual([])

    expectNotRun(await runAction(inputs))
    const scaled = await runAction({ ...inputs, instances: '3' })
    expectNotRun(scaled)
    expect(JSON.parse(scaled.outputs.instances)).toHaveLength(3)

    // A new image: the command runs again, on the deployment's network, where the serving
    // generation's instances answer by name (busybox's static wget crashes here; nc does not).
    const [serving] = JSON.parse(scaled.outputs.instances) as string[]
    const next = await runAction({
      ...inputs,
      image: IMAGES.web2,
      'release-command': command(`echo "reached $(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 20 ${serving} 80 | tail -n 1)"`),
    })
    expectRan(next)
    expect(next.stdout).toMatch(/reached web v1 /)
    expectNowhere(next, [secret])
    expect(releaseContainers(prefix)).toEqual([])
    expect([...(await distinctAnswers(next.outputs.url, 20))].every((a) => a.startsWith('200 web v2'))).toBe(true)
  })

  it('fails the deploy on a non-zero exit with its output, the previous generation serving with no failed request; a timeout likewise', async () => {
    const { prefix, inputs, first } = await deployed('relfail')
    const before = objectsOf(prefix)
    const load = startLoad(first.outputs.url)
    await sleep(1_000)
    const failed = await runAction({ ...inputs, image: IMAGES.web2, 'release-command': command('echo "cannot migrate: table users is locked"; exit 3') })
    await sleep(1_000)
    const report = await load.stop()

    expect(failed.code, explain(failed)).toBe(1)
    expect(failed.stdout).toMatch(/::error::The release command exited with code 3 after [\d.]+ s: generation [\w-]+ was not started/)
    expect(failed.stdout).toContain('cannot migrate: table users is locked')
    expect(failed.stdout).toContain('::group::Deploy failed: undo this run')
    expect(report.failures).toEqual([])
    expect(report.failed).toBe(0)
    expect(report.total).toBeGreaterThan(0)
    expect(objectsOf(prefix)).toEqual(before)
    await expectServingV1(first.outputs.url)

    const timedOut = await runAction({ ...inputs, image: IMAGES.web2, 'wait-timeout': '5', 'release-command': '["sleep","60"]' })
    expect(timedOut.code, explain(timedOut)).toBe(1)
    expect(timedOut.stdout).toMatch(/::error::The release command did not finish within wait-timeout \(5 s\)/)
    expect(objectsOf(prefix)).toEqual(before)
    await expectServingV1(first.outputs.url)
  })

  it('cancelled during the command: stops it and leaves nothing of the new generation; killed, its post step removes the container', async () => {
    const { prefix, inputs, first } = await deployed('relcancel')
    const before = objectsOf(prefix)
    const sleeping = { ...inputs, image: IMAGES.web2, 'release-command': '["sleep","60"]' }
    const running = async (): Promise<ReturnType<typeof startAction>> => {
      const started = startAction(sleeping)
      await until('the release command', () => started.output().includes('Running the release command'))
      await until('its container', () => releaseContainers(prefix).length === 1, 20_000)
      return started
    }

    const cancelled = await running()
    const sentAt = Date.now()
    cancelled.child.kill('SIGINT')
    const run = await cancelled.finished
    expect(run.code, explain(run)).toBe(1)
    expect(Date.now() - sentAt).toBeLessThan(7_500)
    expect(run.stdout).toContain('::error::The run was cancelled (SIGINT)')
    expect(objectsOf(prefix)).toEqual(before)
    await expectServingV1(first.outputs.url)
    const nothing = await runPost(inputs, run.state)
    expect(nothing.stdout, explain(nothing)).toContain('Nothing to clean up')

    const killed = await running()
    killed.child.kill('SIGKILL')
    const dead = await killed.finished
    expect(releaseContainers(prefix)).toHaveLength(1)
    const post = await runPost(inputs, dead.state)
    expect(post.code, explain(post)).toBe(0)
    expect(objectsOf(prefix)).toEqual(before)
    await expectServingV1(first.outputs.url)
  })
})

// The stand-in proxies dockerd's socket: on another engine there is nothing to run it against.
describe.runIf(ON_DOCKERD)('release-command through the VCH stand-in', () => {
  let proxy: VchProxy
  beforeAll(async () => {
    proxy = await startVchProxy({ mode: 'vch', startDelayMs: 1000 })
  })
  afterAll(() => proxy.close())

  it('runs in a containerVM created on the deployment network alone; a failure leaves the previous generation serving', async () => {
    const { prefix, inputs, first } = await deployed('relvch', { 'docker-host': proxy.url, 'release-command': command('echo "migrated on $(hostname)"') })
    expectRan(first)
    expect(first.stdout).toContain('migrated on ')
    expect(first.stdout).toContain('VCH: containers are created on one network each')
    expect(releaseContainers(prefix)).toEqual([])
    const before = objectsOf(prefix)

    const failed = await runAction({ ...inputs, image: IMAGES.web2, 'release-command': command('echo "schema drift"; exit 2') })
    expect(failed.code, explain(failed)).toBe(1)
    expect(failed.stdout).toMatch(/::error::The release command exited with code 2 after [\d.]+ s/)
    expect(failed.stdout).toContain('schema drift')
    expect(objectsOf(prefix)).toEqual(before)
    await expectServingV1(first.outputs.url)
  })
})
