import { describe, expect, it } from 'vitest'
import type { DeploymentState, InstanceObject } from '../src/docker/state'
import { CONFIG_DIR, CONFIG_FILE, PREVIOUS_CONFIG_FILE, STATS_CERTIFICATE_PATH, renderHaproxyConfig } from '../src/haproxy/config'
import { NotReadyError } from '../src/readiness'
import { prepareReloads, switchTraffic } from '../src/steps/switch'
import { undo } from '../src/steps/undo'
import { FakeHost, contextOf, emptyPlan, lbConfigFor, ownLbOf, recordLog } from './fake-docker-host'

const LIVE = `${CONFIG_DIR}/${CONFIG_FILE}`
// What deploy.ts reads from a kept load-balancer before its reloads are prepared.
const filesIn = (host: FakeHost, lb: string) => host.filesIn(lb, CONFIG_DIR)
const old: InstanceObject = { id: 'id-web-g1-1', name: 'web-g1-1', generation: 'g1', index: 1, port: 80, running: true }
const checkOf = (lb: string) => [`put ${lb} /tmp/haproxy-candidate.cfg`, `exec ${lb} haproxy -c -f /tmp/haproxy-candidate.cfg as the container user`]
const loadOf = (lb: string) => [`put ${lb} ${LIVE}`, `signal ${lb} SIGUSR2`]

// A kept load-balancer serving web-g1-1, and a redeploy that moves it to web-g2-1 and web-g2-2.
function redeploy() {
  const host = new FakeHost()
  const lb = host.add({ name: 'web-lb', files: new Map([[LIVE, 'the previous configuration\n']]) })
  host.add({ name: 'web-g1-1' })
  for (const name of ['web-g2-1', 'web-g2-2']) host.add({ name })
  const plan = emptyPlan({
    create: [
      { name: 'web-g2-1', index: 1 },
      { name: 'web-g2-2', index: 2 },
    ],
    serving: [
      { name: 'web-g2-1', port: 80 },
      { name: 'web-g2-2', port: 80 },
    ],
    removeAfter: [old],
  })
  const state: DeploymentState = {
    instances: [old],
    lb: { id: lb, name: 'web-lb', spec: 'spec-1', running: true },
    networks: [{ id: 'n', name: 'web-net' }],
    services: [],
    volumes: [],
  }
  return { host, lb, plan, state, lbConfig: lbConfigFor(plan) }
}

describe('switchTraffic on a kept load-balancer', () => {
  it('keeps the previous configuration and checks both configurations first, then loads the candidates, then the final one', async () => {
    recordLog()
    const { host, lb, plan, state, lbConfig } = redeploy()
    const { ctx, remembered, waits } = contextOf(host, plan)
    const { address } = await prepareReloads(ctx, lbConfig, state, filesIn(host, lb)).then((reloads) => switchTraffic(ctx, lb, lbConfig, reloads))

    expect(host.calls).toEqual([
      `put web-lb ${CONFIG_DIR}/${PREVIOUS_CONFIG_FILE}`,
      ...checkOf('web-lb'),
      ...checkOf('web-lb'),
      ...loadOf('web-lb'),
      'top web-lb',
      ...loadOf('web-lb'),
    ])
    // Candidates get no traffic: only the final configuration must answer through the service port.
    // Having just passed as candidates, they need not wait for the new worker's first checks.
    expect(waits.map((w) => [w.backend, w.servers, w.throughService, w.admitted])).toEqual([
      ['candidates', ['web-g2-1', 'web-g2-2'], false, []],
      ['instances', ['web-g2-1', 'web-g2-2'], true, ['web-g2-1', 'web-g2-2']],
    ])
    expect(host.containers.get(lb)!.files.get(LIVE)).toBe(renderHaproxyConfig(lbConfig))
    expect(remembered.at(-1)).toMatchObject({ configChangedOn: lb })
    expect(ctx.record.drain).toMatchObject({ lb })
    expect(address).toEqual({ ip: '127.0.0.1', port: 8081, url: 'http://127.0.0.1:8081' })
  })

  it('gives a load-balancer made before the stats page had TLS its certificate before the configuration that needs it is checked', async () => {
    recordLog()
    const { host, lb, plan, state, lbConfig } = redeploy()
    const earlier = { ...lbConfig, statsCertificate: { ...lbConfig.statsCertificate, inside: false } }
    const { ctx } = contextOf(host, plan)
    await prepareReloads(ctx, earlier, state, filesIn(host, lb)).then((reloads) => switchTraffic(ctx, lb, earlier, reloads))

    expect(host.calls.slice(0, 3)).toEqual([
      `put web-lb ${CONFIG_DIR}/${PREVIOUS_CONFIG_FILE}`,
      `put web-lb ${STATS_CERTIFICATE_PATH}`,
      ...checkOf('web-lb').slice(0, 1),
    ])
    expect(host.containers.get(lb)!.files.get(STATS_CERTIFICATE_PATH)).toBe(lbConfig.statsCertificate.pem)
  })

  it('reloads nothing when the configuration is already the one wanted', async () => {
    recordLog()
    const { host, lb, state, lbConfig } = redeploy()
    const plan = emptyPlan({ serving: lbConfig.serving })
    host.containers.get(lb)!.files.set(LIVE, renderHaproxyConfig(lbConfig))
    const { ctx, waits } = contextOf(host, plan)
    await prepareReloads(ctx, lbConfig, state, filesIn(host, lb)).then((reloads) => switchTraffic(ctx, lb, lbConfig, reloads))
    expect(host.calls).toEqual([])
    expect(waits.map((w) => w.backend)).toEqual(['instances'])
    expect(ctx.record.changed).toBe(false)
  })

  it('stops at a configuration HAProxy rejects, and the undo loads the previous one again', async () => {
    const lines = recordLog()
    const { host, lb, plan, state, lbConfig } = redeploy()
    host.check = { exitCode: 1, output: "[ALERT] config : unknown keyword 'bogus'\n" }
    const { ctx, waits } = contextOf(host, plan)
    await expect(prepareReloads(ctx, lbConfig, state, filesIn(host, lb)).then((reloads) => switchTraffic(ctx, lb, lbConfig, reloads))).rejects.toThrow(
      /^HAProxy in web-lb rejected the new configuration \(haproxy -c exit code 1\); the running one stays in use:\n\[ALERT\]/,
    )
    expect(waits).toEqual([])
    expect(host.containers.get(lb)!.files.get(LIVE)).toBe('the previous configuration\n')

    host.calls = []
    await undo(ctx, ownLbOf(ctx))
    expect(host.calls).toEqual([`put web-lb ${LIVE}`, 'signal web-lb SIGUSR2'])
    expect(lines).toEqual(['Restored the previous load-balancer configuration', 'This run created nothing'])
  })

  it('restores the previous configuration and certificate after a newcomer never became healthy, and shows the logs', async () => {
    const lines = recordLog()
    const { host, lb, plan, state, lbConfig } = redeploy()
    host.containers.get(lb)!.files.set(`${CONFIG_DIR}/service.pem`, 'old PEM')
    host.byName('web-g2-2')!.logs = 'listening on 8080\n'
    const { ctx } = contextOf(host, plan, {
      settings: { certificate: { pem: 'new PEM', fingerprint256: 'AA' } },
      ready: async () => {
        throw new NotReadyError('web-g2-2 is not healthy', [], ['web-g2-2'])
      },
    })
    await expect(prepareReloads(ctx, lbConfig, state, filesIn(host, lb)).then((reloads) => switchTraffic(ctx, lb, lbConfig, reloads))).rejects.toThrow(
      'web-g2-2 is not healthy',
    )
    expect(lines).toEqual([
      'group: Logs of web-lb',
      'quoted: (no output)',
      'group: Logs of web-g2-2 (not in the load-balancer yet)',
      'quoted: listening on 8080',
      'error: Not healthy behind the load-balancer: web-g2-2 not in the load-balancer yet',
    ])

    host.calls = []
    await undo(ctx, ownLbOf(ctx))
    expect(host.calls).toEqual([`put web-lb ${CONFIG_DIR}/service.pem`, `put web-lb ${LIVE}`, 'signal web-lb SIGUSR2'])
    expect(host.containers.get(lb)!.files.get(`${CONFIG_DIR}/service.pem`)).toBe('old PEM')
  })
})

describe('switchTraffic with a container of this run that exited', () => {
  it('fails at once with its exit code and its last log lines', async () => {
    recordLog()
    const { host, lb, plan, state, lbConfig } = redeploy()
    Object.assign(host.byName('web-g2-2')!, { running: false, exitCode: 1, logs: 'nginx: [emerg] host not found\n' })
    const { ctx, waits } = contextOf(host, plan)
    await expect(prepareReloads(ctx, lbConfig, state, filesIn(host, lb)).then((reloads) => switchTraffic(ctx, lb, lbConfig, reloads))).rejects.toThrow(
      'Instance web-g2-2 exited with code 1 right after starting. Its last log lines:\nnginx: [emerg] host not found\nCheck that nginx:1.27 runs a long-lived service with this configuration.',
    )
    expect(waits).toEqual([])
    // Checked while the instances started, but nothing loaded.
    expect(host.calls.filter((call) => call === `put web-lb ${LIVE}` || call.startsWith('signal'))).toEqual([])
  })

  it('counts a load-balancer that dockerd shows restarting as one that exited', async () => {
    recordLog()
    const host = new FakeHost()
    const lb = host.add({ name: 'web-lb', restarting: true, exitCode: 139 })
    const plan = emptyPlan({ lb: 'create' })
    const { ctx } = contextOf(host, plan)
    await expect(
      prepareReloads(ctx, lbConfigFor(plan), { instances: [], networks: [], services: [], volumes: [] }, filesIn(host, lb)).then((reloads) =>
        switchTraffic(ctx, lb, lbConfigFor(plan), reloads),
      ),
    ).rejects.toThrow(
      'Load-balancer web-lb exited with code 139 right after starting. Its last log lines:\n(none)\nCheck that haproxy:3.0 runs a long-lived service with this configuration.',
    )
  })

  it('judges a new load-balancer without published ports by its own state, which the list may not show yet', async () => {
    recordLog()
    const host = new FakeHost()
    const lb = host.add({ name: 'web-lb', restarting: true, listedAs: 'running', exitCode: 1, logs: '[ALERT] cannot open /no/such.cfg\n' })
    const plan = emptyPlan({ lb: 'create' })
    const { ctx } = contextOf(host, plan)
    await expect(
      prepareReloads(ctx, lbConfigFor(plan), { instances: [], networks: [], services: [], volumes: [] }, filesIn(host, lb)).then((reloads) =>
        switchTraffic(ctx, lb, lbConfigFor(plan), reloads),
      ),
    ).rejects.toThrow(/^Load-balancer web-lb exited with code 1 right after starting\. Its last log lines:\n\[ALERT\] cannot open \/no\/such\.cfg\n/)
  })
})
