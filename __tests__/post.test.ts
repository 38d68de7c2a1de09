import { afterEach, describe, expect, it, vi } from 'vitest'
import { CERTIFICATE_PATH, CONFIG_DIR, CONFIG_FILE, PREVIOUS_CERTIFICATE_FILE, PREVIOUS_CONFIG_FILE } from '../src/haproxy/config'
import { LABEL } from '../src/labels'
import { post, takeBack } from '../src/post'
import { FakeHost, contextOf, emptyPlan, recordLog } from './fake-docker-host'
import { detectHost } from '../src/docker/host-profile'
import { ensureIngress } from '../src/ingress/ensure'
import type { IngressRoute } from '../src/ingress/config'
import { readRoutes, writeRoute } from '../src/ingress/record'
import { FakeGitHub } from './fake-github-api'

const github = vi.hoisted(() => ({ api: undefined as unknown }))
vi.mock('../src/github/api', () => ({ connectGitHub: async () => github.api }))
// The Docker host the post step connects to: a FakeHost, where a test puts one.
const docker = vi.hoisted(() => ({ host: undefined as unknown }))
vi.mock('../src/docker/engine', async (original) => ({
  ...(await original<typeof import('../src/docker/engine')>()),
  connectEngine: async () => ({ docker: {}, host: detectHost({ ApiVersion: '1.47', Version: '27.5.1' }, {}) }),
}))
vi.mock('../src/docker/dockerode-host', () => ({ dockerodeHost: () => docker.host }))

afterEach(() => {
  vi.unstubAllEnvs()
})

describe('post', () => {
  it('does nothing and says so when the main step left no state, not even connect to the Docker host', async () => {
    const out = recordLog()
    const read = vi.fn(() => undefined)
    await post(read)
    expect(out.join('\n')).toMatch(/Nothing to clean up: the main step settled everything it started/)
    expect(read).not.toHaveBeenCalled()
  })

  it('ends a GitHub deployment the killed main step left in progress in failure, without the Docker host', async () => {
    const out = recordLog()
    const fake = new FakeGitHub()
    github.api = fake
    await fake.rest.repos.createDeployment({
      owner: 'octo',
      repo: 'shop',
      ref: 'a'.repeat(40),
      task: 'deploy:pr-1',
      environment: 'preview',
      description: '',
      auto_merge: false,
      required_contexts: [],
      transient_environment: true,
      production_environment: false,
    })
    const [{ id }] = fake.deployments
    vi.stubEnv('STATE_github-deployment', JSON.stringify({ owner: 'octo', repo: 'shop', environment: 'preview', deployment: 'pr-1', id }))
    const inputs: Record<string, string> = { image: 'nginx', 'github-token': 'ghs_x', 'docker-host': 'tcp://192.0.2.1:2375' }
    await post((name) => inputs[name])
    expect(fake.deployments[0].statuses).toEqual([
      expect.objectContaining({ state: 'failure', description: expect.stringMatching(/stopped before the deploy finished/) }),
    ])
    expect(out.join('\n')).toContain(`GitHub deployment ${id}: failure`)
    expect(out.join('\n')).not.toContain('could not finish')
  })

  it('releases the locks the killed main step held, and says only of those it removed that it released them: one gone already is no warning', async () => {
    const out = recordLog()
    const host = new FakeHost()
    docker.host = host
    const held = host.add({ name: 'pr-1-lock', running: false, labels: { [LABEL.deployment]: 'pr-1', [LABEL.role]: 'lock' } })
    // The ingress's lock is gone: the main step released it the instant before it was killed,
    // before it could note that in its state.
    vi.stubEnv(
      'STATE_locks',
      JSON.stringify([
        { kind: 'ingress', name: 'previews', id: 'id-previews-lock' },
        { kind: 'deployment', name: 'pr-1', id: held },
      ]),
    )
    const inputs: Record<string, string> = { image: 'nginx', 'docker-host': 'tcp://192.0.2.1:2375' }
    await post((name) => inputs[name])
    expect(out).toEqual([
      "The lock of ingress 'previews' the main step held is gone already: nothing to release",
      "Released the lock of deployment 'pr-1' the main step held",
    ])
    expect(host.containers.size).toBe(0)
  })
})

describe('takeBack', () => {
  const deployment = { deployment: 'pr-1', lbName: 'pr-1-lb', run: 'run-a' }
  // How a routed deployment's take-back takes the ingress's lock.
  const LOCK = { host: detectHost({ ApiVersion: '1.47', Version: '27.5.1' }, {}), image: 'haproxy:3.0', timeoutSeconds: 5 }
  const routeOf = (deployment: string, serving: string[], candidates: string[] = []): IngressRoute => ({
    deployment,
    hostname: `${deployment}.example.test`,
    serving: serving.map((name) => ({ name, port: 80 })),
    candidates: candidates.map((name) => ({ name, port: 80 })),
    healthCheckPath: '/',
    timeouts: { response: 60, tunnel: 60 },
  })
  async function routedHost(): Promise<FakeHost> {
    const host = new FakeHost()
    host.images = ['haproxy:3.0']
    const { settings, profile } = contextOf(host, emptyPlan(), { settings: { ingress: { name: 'previews', hostname: 'pr-1.example.test' } } }).ctx
    await ensureIngress(host, profile, settings, () => {})
    return host
  }
  const config = (host: FakeHost): string => host.byName('previews')!.files.get(`${CONFIG_DIR}/${CONFIG_FILE}`)!
  const ofRun = (run: string, role: string) => ({ [LABEL.deployment]: 'pr-1', [LABEL.run]: run, [LABEL.role]: role })

  it('removes what the killed run created, and only that, then starts the load-balancer it had stopped under its name', async () => {
    recordLog()
    const host = new FakeHost()
    host.add({ name: 'pr-1-old1-1', labels: ofRun('earlier', 'instance') })
    host.add({ name: 'pr-1-new-1', labels: ofRun('run-a', 'instance') })
    host.add({ name: 'pr-1-lb-next', labels: ofRun('run-a', 'lb') })
    const lock = host.add({ name: 'pr-1-lock', running: false, labels: ofRun('run-a', 'lock') })
    const old = host.add({ name: 'pr-1-lb-old', running: false, labels: ofRun('earlier', 'lb') })
    await takeBack(host, { ...deployment, replacedLb: { id: old, name: 'pr-1-lb' } }, LOCK)
    expect([...host.containers.values()].map((c) => `${c.name} ${c.running ? 'running' : 'stopped'}`).sort()).toEqual([
      'pr-1-lb running',
      'pr-1-lock stopped',
      'pr-1-old1-1 running',
    ])
    // The lock is released by its ID afterwards, not here.
    expect(host.containers.has(lock)).toBe(true)
  })

  it('removes the volumes the killed run created and starts the services it had stopped to replace them; other volumes stay', async () => {
    recordLog()
    const host = new FakeHost()
    host.add({ name: 'pr-1-svc-db', labels: ofRun('run-a', 'service') })
    const old = host.add({ name: 'pr-1-svc-db.old', running: false, labels: ofRun('earlier', 'service') })
    await host.createVolume('pr-1-svc-db-new', 'local', {}, ofRun('run-a', 'volume'))
    await host.createVolume('pr-1-svc-db-data', 'local', {}, ofRun('earlier', 'volume'))
    await takeBack(host, { ...deployment, replacedServices: [{ id: old, name: 'pr-1-svc-db' }] }, LOCK)
    expect([...host.containers.values()].map((c) => `${c.name} ${c.running ? 'running' : 'stopped'}`)).toEqual(['pr-1-svc-db running'])
    expect(host.containers.has(old)).toBe(true)
    expect([...host.volumes.keys()]).toEqual(['pr-1-svc-db-data'])
  })

  it('puts back the configuration and the certificate the killed run had replaced, then reloads', async () => {
    recordLog()
    const host = new FakeHost()
    const lb = host.add({ name: 'pr-1-lb', labels: ofRun('earlier', 'lb') })
    const files = host.containers.get(lb)!.files
    files.set(`${CONFIG_DIR}/${CONFIG_FILE}`, 'new config\n')
    files.set(CERTIFICATE_PATH, 'NEW PEM\n')
    files.set(`${CONFIG_DIR}/${PREVIOUS_CONFIG_FILE}`, 'old config\n')
    files.set(`${CONFIG_DIR}/${PREVIOUS_CERTIFICATE_FILE}`, 'OLD PEM\n')
    await takeBack(host, { ...deployment, configChangedOn: lb }, LOCK)
    expect(files.get(CERTIFICATE_PATH)).toBe('OLD PEM\n')
    expect(files.get(`${CONFIG_DIR}/${CONFIG_FILE}`)).toBe('old config\n')
    expect(host.calls).toEqual([`put pr-1-lb ${CERTIFICATE_PATH}`, `put pr-1-lb ${CONFIG_DIR}/${CONFIG_FILE}`, 'signal pr-1-lb SIGUSR2'])
  })

  it("puts a routed deployment's previous route back under the ingress's lock and reloads, before it removes the killed run's instances", async () => {
    const out = recordLog()
    const host = await routedHost()
    const before = routeOf('pr-1', ['pr-1-old-1'])
    await writeRoute(host, 'previews', routeOf('pr-2', ['pr-2-a-1']), 'haproxy:3.0')
    await writeRoute(host, 'previews', routeOf('pr-1', ['pr-1-old-1'], ['pr-1-new-1']), 'haproxy:3.0')
    host.add({ name: 'pr-1-old-1', labels: ofRun('earlier', 'instance') })
    host.add({ name: 'pr-1-new-1', labels: ofRun('run-a', 'instance') })
    host.calls = []
    await takeBack(host, { ...deployment, routeChangedOn: { ingress: 'previews', previous: before } }, LOCK)

    expect((await readRoutes(host, 'previews')).routes).toEqual([routeOf('pr-2', ['pr-2-a-1']), routeOf('pr-1', ['pr-1-old-1'])])
    expect(config(host)).not.toContain('pr-1-new-1')
    expect(config(host)).toContain('pr-2.example.test')
    const reloaded = host.calls.indexOf('signal previews SIGUSR2')
    expect(host.calls[0]).toBe('create previews-lock')
    expect(reloaded).toBeGreaterThan(0)
    expect(host.calls.indexOf('remove pr-1-new-1')).toBeGreaterThan(reloaded)
    expect(host.byName('pr-1-old-1')).toBeDefined()
    expect(host.byName('previews-lock')).toBeUndefined()
    expect(out.join('\n')).toContain("Put back the route of pr-1.example.test the deployment had before on ingress 'previews'")
  })

  it('removes the route a killed first deploy made, and the ingress goes on serving the other previews', async () => {
    const out = recordLog()
    const host = await routedHost()
    await writeRoute(host, 'previews', routeOf('pr-2', ['pr-2-a-1']), 'haproxy:3.0')
    await writeRoute(host, 'previews', routeOf('pr-1', ['pr-1-new-1']), 'haproxy:3.0')
    host.add({ name: 'pr-1-new-1', labels: ofRun('run-a', 'instance') })
    await takeBack(host, { ...deployment, routeChangedOn: { ingress: 'previews' } }, LOCK)

    expect((await readRoutes(host, 'previews')).routes.map((r) => r.deployment)).toEqual(['pr-2'])
    expect(config(host)).not.toContain('pr-1')
    expect([...host.containers.values()].map((c) => c.name).sort()).toEqual(['pr-2-route', 'previews'])
    expect(out.join('\n')).toContain("Put back the route of the deployment: it had none before on ingress 'previews'")
  })
})
