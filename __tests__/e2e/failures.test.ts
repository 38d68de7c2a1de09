import { afterAll, describe, expect, it } from 'vitest'
import {
  ENGINE,
  IMAGES,
  TLS_DIR,
  distinctAnswers,
  docker,
  explain,
  localInputs,
  objectsOf,
  removeDeployment,
  runAction,
  tlsEndpoint,
  tlsInputs,
  uniquePrefix,
} from './harness'

// Bad input and failed deploys: a clear error, nothing left behind, and a deployment that was
// serving before keeps serving.

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

describe('bad input is refused before the Docker host changes', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['zero instances', { instances: '0' }, /Invalid instances '0'.*1 to 100/],
    ['an image with a space', { image: 'web app' }, /Invalid image 'web app'/],
    ['a prefix with #', { 'instance-prefix': 'web#1' }, /Invalid instance-prefix 'web#1'/],
    ['a newline in lb-name', { 'lb-name': 'lb\nbind :1' }, /Invalid lb-name 'lb\\nbind :1'/],
    ['a port that is not a number', { 'lb-port': '80 ' + '#' }, /Invalid lb-port/],
    ['a health-check path with $', { 'health-check-path': '/x$HOME' }, /Invalid health-check-path/],
    ['an external network that does not exist', { 'external-network': 'no-such-net-e2e' }, /External network 'no-such-net-e2e' does not exist/],
    ['an image that cannot be pulled', { image: 'vic-lb-test/absent:1' }, /Could not pull image vic-lb-test\/absent:1/],
  ]
  for (const [what, change, message] of cases) {
    it(`refuses ${what}`, async () => {
      const prefix = uniquePrefix('bad')
      created.push(prefix)
      const inputs = { ...(await localInputs(prefix)), ...change }
      const run = await runAction(inputs)
      expect(run.code, explain(run)).toBe(1)
      expect(run.stdout).toMatch(new RegExp(`::error::${message.source}`))
      expect(objectsOf(prefix)).toEqual([])
      expect(objectsOf(inputs['instance-prefix'])).toEqual([])
    })
  }

  it('refuses to take over a container it did not create', async () => {
    const prefix = uniquePrefix('foreign')
    created.push(prefix)
    const foreign = `${prefix}-lb`
    docker('create', '--name', foreign, IMAGES.web1)
    try {
      const run = await runAction(await localInputs(prefix))
      expect(run.code, explain(run)).toBe(1)
      expect(run.stdout).toContain(`A container named '${foreign}' already exists on the Docker host and was not created by vic-lb-action`)
      expect(objectsOf(prefix)).toEqual([])
      expect(docker('inspect', '-f', '{{.State.Status}}', foreign)).toBe('created')
    } finally {
      docker('rm', '-f', foreign)
    }
  })
})

describe('a failed deploy', () => {
  it('fails fast on an instance that exits, with its exit code and logs, leaving nothing', async () => {
    const prefix = uniquePrefix('crash')
    created.push(prefix)
    const started = Date.now()
    const run = await runAction(await localInputs(prefix, { image: IMAGES.crash, 'wait-timeout': '120' }))
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toMatch(/Instance e2e-crash-\w+-[0-9a-f]{8}-\d exited with code 3/)
    expect(run.stdout).toContain('crash: failing on purpose')
    expect(Date.now() - started).toBeLessThan(60_000)
    expect(objectsOf(prefix)).toEqual([])
  })

  it('times out on instances that never become healthy, shows their state and logs, leaves nothing', async () => {
    const prefix = uniquePrefix('silent')
    created.push(prefix)
    const run = await runAction(await localInputs(prefix, { image: IMAGES.silent, instances: '2', 'wait-timeout': '8' }))
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toContain('Timed out waiting for the deployment to become ready')
    expect(run.stdout).toMatch(/::group::Logs of e2e-silent-\w+-lb/)
    expect(run.stdout).toMatch(/Not healthy behind the load-balancer: .*DOWN/)
    expect(objectsOf(prefix)).toEqual([])
  })

  it('leaves the previous deployment serving, untouched, when the new generation never gets healthy', async () => {
    const prefix = uniquePrefix('keep')
    created.push(prefix)
    const inputs = await localInputs(prefix, { instances: '2' })
    const good = await runAction(inputs)
    expect(good.code, explain(good)).toBe(0)
    const before = objectsOf(prefix)

    const bad = await runAction({ ...inputs, image: IMAGES.silent, instances: '3', 'wait-timeout': '8' })
    expect(bad.code, explain(bad)).toBe(1)
    expect(bad.stdout).toContain('Restored the previous load-balancer configuration')
    expect(objectsOf(prefix)).toEqual(before)
    const answers = await distinctAnswers(good.outputs.url)
    expect([...answers].every((a) => a.startsWith('200 web v1'))).toBe(true)
    expect(answers.size).toBe(2)
  })
})

describe("a Docker host over TLS (the suite's TLS endpoint, client certificates required)", () => {
  it('deploys and tears down with the client certificates', async () => {
    const prefix = uniquePrefix('tls')
    created.push(prefix)
    const inputs = await localInputs(prefix, { 'docker-host': `tcp://${tlsEndpoint()}`, instances: '2', ...tlsInputs() })
    const run = await runAction(inputs)
    expect(run.code, explain(run)).toBe(0)
    expect(run.outputs.ip).toBe('127.0.0.1')
    expect((await distinctAnswers(run.outputs.url)).size).toBe(2)
    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix, 'docker-host': tlsEndpoint(), ...tlsInputs() })
    expect(down.code, explain(down)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
  })

  it('honours DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI does', async () => {
    const prefix = uniquePrefix('tlsenv')
    created.push(prefix)
    const run = await runAction(await localInputs(prefix, { instances: '1' }), {
      DOCKER_HOST: `tcp://${tlsEndpoint()}`,
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: TLS_DIR,
    })
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain(ENGINE.kind === 'podman' ? 'Connected to Podman' : 'Connected to Docker Engine')
  })

  it('fails with a clear error without a client certificate, changing nothing', async () => {
    const prefix = uniquePrefix('notls')
    created.push(prefix)
    const { 'tls-ca-cert': ca } = tlsInputs()
    const run = await runAction(await localInputs(prefix, { 'docker-host': `tcp://${tlsEndpoint()}`, 'tls-ca-cert': ca }))
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toMatch(/::error::Cannot reach the Docker host .*refused the client certificate: none was given/)
    expect(objectsOf(prefix)).toEqual([])
  })
})
