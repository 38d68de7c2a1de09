import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVchProxy, type VchProxy } from '../../test-support/vch-proxy'
import { IMAGES, ON_DOCKERD, deploymentsRemovedAfterAll, docker, explain, expectNowhere, lbConfig, localInputs, objectsOf, runAction } from './harness'

// Companion services: started on the deployment's network before the instances, reached by their
// name, kept across redeploys with their volume's data, replaced alone when their spec changes,
// removed with the deployment.

const newPrefix = deploymentsRemovedAfterAll()
const SECRET = 'svc-secret-8c1f0e7d'

// A service that keeps a token in its volume, written once on its first start, and serves it.
const data = {
  name: 'data',
  image: IMAGES.web1,
  command: ['sh', '-c', "trap 'exit 0' TERM; [ -f /data/index.html ] || cat /proc/sys/kernel/random/uuid > /data/index.html; httpd -f -p 7000 -h /data & wait"],
  port: 7000,
  volume: '/data',
}
const cache = { name: 'cache', image: IMAGES.web1, env: { PORT: '7001' }, 'secret-env': { CACHE_TOKEN: SECRET }, port: 7001 }
// JSON is YAML.
const servicesInput = (...services: object[]) => JSON.stringify(services)

// What an instance gets from a service by its name, on the deployment's network.
function fromInstance(instance: string, url: string): string {
  return docker('exec', instance, 'wget', '-qO-', url).trim()
}

const idOf = (container: string) => docker('inspect', '-f', '{{.Id}}', container)

describe('companion services', () => {
  const prefix = newPrefix('svc')
  let inputs: Record<string, string>
  let token: string

  it('start before the instances, which reach each by its name; the load-balancer checks them and secret values appear nowhere', async () => {
    inputs = await localInputs(prefix, { instances: '2', services: servicesInput(data, cache) })
    const run = await runAction(inputs, { ACTIONS_STEP_DEBUG: 'true', RUNNER_DEBUG: '1' })
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout.indexOf('Start companion services')).toBeLessThan(run.stdout.indexOf('Start instances and load-balancer'))
    expect(run.stdout).toContain('Services accept connections: data:7000, cache:7001')
    const instances = JSON.parse(run.outputs.instances) as string[]
    token = fromInstance(instances[0]!, 'http://data:7000/')
    expect(token).toMatch(/^[0-9a-f-]{36}$/)
    expect(fromInstance(instances[1]!, 'http://cache:7001/')).toBe(`web v1 ${idOf(`${prefix}-svc-cache`).slice(0, 12)}`)
    expect(lbConfig(prefix)).toMatch(/^backend services\n {4}server data data:7000\n {4}server cache cache:7001$/m)
    expect(docker('inspect', '-f', '{{json .Config.Labels}}', `${prefix}-svc-cache`)).not.toContain(SECRET)
    expectNowhere(run, [SECRET])
    expect(objectsOf(prefix).filter((o) => o.startsWith(`${prefix}-svc-`))).toEqual([
      `${prefix}-svc-cache`,
      `${prefix}-svc-data`,
      expect.stringMatching(`^${prefix}-svc-data-[0-9a-f]{8}$`),
    ])
  })

  it('are kept with their data by a redeploy of a new image, and an unchanged re-run changes nothing', async () => {
    const before = [idOf(`${prefix}-svc-data`), idOf(`${prefix}-svc-cache`)]
    const run = await runAction({ ...inputs, image: IMAGES.web2 })
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain('Services: 2 kept, 0 to start, 0 to replace.')
    expect([idOf(`${prefix}-svc-data`), idOf(`${prefix}-svc-cache`)]).toEqual(before)
    const instances = JSON.parse(run.outputs.instances) as string[]
    expect(fromInstance(instances[0]!, 'http://data:7000/')).toBe(token)
    const again = await runAction({ ...inputs, image: IMAGES.web2 })
    expect(again.code, explain(again)).toBe(0)
    expect(again.stdout).toContain('Unchanged')
  })

  it('replaces only the service whose spec changed; the replaced one keeps its volume', async () => {
    const cacheId = idOf(`${prefix}-svc-cache`)
    const dataId = idOf(`${prefix}-svc-data`)
    const run = await runAction({ ...inputs, image: IMAGES.web2, services: servicesInput({ ...data, env: { MODE: 'b' } }, cache) })
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain('Services: 1 kept, 0 to start, 1 to replace.')
    expect(idOf(`${prefix}-svc-cache`)).toBe(cacheId)
    expect(idOf(`${prefix}-svc-data`)).not.toBe(dataId)
    const instances = JSON.parse(run.outputs.instances) as string[]
    expect(fromInstance(instances[0]!, 'http://data:7000/')).toBe(token)
    expect(objectsOf(prefix).filter((o) => o.endsWith('.old') || o.endsWith('.next'))).toEqual([])
  })

  it('are removed by teardown with their volumes', async () => {
    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix })
    expect(down.code, explain(down)).toBe(0)
    expect(down.stdout).toMatch(new RegExp(`${prefix}-svc-data-[0-9a-f]{8}`))
    expect(objectsOf(prefix)).toEqual([])
  })

  it('are up before the release command, which reaches them by name', async () => {
    const released = newPrefix('svcrel')
    const fetchToken = `echo "token $(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 20 data 7000 | tail -n 1)"`
    const run = await runAction(
      await localInputs(released, { instances: '1', services: servicesInput(data), 'release-command': JSON.stringify(['sh', '-c', fetchToken]) }),
    )
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout.indexOf('Services accept connections: data:7000')).toBeLessThan(run.stdout.indexOf('Release command'))
    const [instance] = JSON.parse(run.outputs.instances) as string[]
    expect(run.stdout).toContain(`token ${fromInstance(instance!, 'http://data:7000/')}`)
  })

  it('are refused, naming the service and field, before anything is created', async () => {
    const refused = newPrefix('svcbad')
    const run = await runAction(await localInputs(refused, { services: servicesInput(data, { ...cache, port: 'cache-port' }) }))
    expect(run.code).toBe(1)
    expect(run.stdout).toContain("Invalid services: service 'cache', field 'port'")
    expect(objectsOf(refused)).toEqual([])
  })

  it('fail the deploy with the exit code and logs of a service that exits, leaving nothing', async () => {
    const crashed = newPrefix('svccrash')
    const run = await runAction(
      await localInputs(crashed, { instances: '1', services: servicesInput(data, { name: 'broken', image: IMAGES.crash, port: 7002, volume: '/x' }) }),
    )
    expect(run.code).not.toBe(0)
    expect(run.stdout).toMatch(new RegExp(`Service broken \\(container ${crashed}-svc-broken\\) exited with code \\d+ right after starting`))
    expect(objectsOf(crashed)).toEqual([])
  })
})

describe.runIf(ON_DOCKERD)('companion services through the VCH stand-in', () => {
  let proxy: VchProxy
  beforeAll(async () => {
    proxy = await startVchProxy({ mode: 'vch', startDelayMs: 500 })
  })
  afterAll(() => proxy.close())

  it('keeps volumes in the VCH volume store and reaches services by name', async () => {
    const prefix = newPrefix('svcvch')
    const run = await runAction(await localInputs(prefix, { 'docker-host': proxy.url, instances: '1', services: servicesInput(data) }))
    expect(run.code, explain(run)).toBe(0)
    const [instance] = JSON.parse(run.outputs.instances) as string[]
    expect(fromInstance(instance!, 'http://data:7000/')).toMatch(/^[0-9a-f-]{36}$/)
    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix, 'docker-host': proxy.url })
    expect(down.code, explain(down)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
  })

  it('refuses a service volume on a VCH without a volume store before anything is created', async () => {
    const bare = await startVchProxy({ mode: 'vch', startDelayMs: 500, volumeStores: [] })
    try {
      const prefix = newPrefix('svcnostore')
      const run = await runAction(await localInputs(prefix, { 'docker-host': bare.url, services: servicesInput(data) }))
      expect(run.code).not.toBe(0)
      expect(run.stdout).toContain("The VCH has no volume store named 'default' (it has none), and service(s) data need a volume.")
      expect(objectsOf(prefix)).toEqual([])
    } finally {
      await bare.close()
    }
  })
})
