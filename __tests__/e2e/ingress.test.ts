import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Agent, fetch } from 'undici/index.js' // the name tsconfig.json does not map for the bundle
import { startLoad, toLoopback } from '../../test-support/load'
import { startVchProxy, type VchProxy } from '../../test-support/vch-proxy'
import {
  IMAGES,
  ON_DOCKERD,
  docker,
  explain,
  freePort,
  lbConfig,
  localInputs,
  objectsOf,
  removeDeployment,
  runAction,
  runPost,
  sleep,
  startAction,
  uniquePrefix,
} from './harness'

// Many previews on one shared ingress (#18), each under its own host name: routed by the Host
// header, each with its own zero-downtime redeploys and teardown, the ingress made once and
// recovering its routes. Host names end in .test, which no DNS answers: every request goes to
// 127.0.0.1 (the published ingress) with the name in its Host header.

const deployments: string[] = []
const ingresses: string[] = []
afterAll(() => {
  deployments.forEach(removeDeployment)
  // Whatever of each ingress a test left (one removes its own).
  const leftOf = (ingress: string, what: string[]) =>
    docker(...what, '--filter', `label=io.github.vic-lb-action.ingress=${ingress}`, '-q')
      .split('\n')
      .filter(Boolean)
  for (const ingress of ingresses) {
    const containers = leftOf(ingress, ['ps', '-a'])
    if (containers.length > 0) docker('rm', '-f', ...containers)
    const networks = leftOf(ingress, ['network', 'ls'])
    if (networks.length > 0) docker('network', 'rm', ...networks)
  }
})

const onLoopback = new Agent({ connect: { lookup: toLoopback } })

// What a request for that URL gets: status and body.
async function answer(url: string): Promise<string> {
  const response = await fetch(url, { dispatcher: onLoopback, signal: AbortSignal.timeout(5000) })
  return `${response.status} ${(await response.text()).trim()}`
}

async function answers(url: string, requests = 12): Promise<Set<string>> {
  const seen = new Set<string>()
  for (let i = 0; i < requests; i++) seen.add(await answer(url))
  return seen
}

// An ingress of the test's own, published on a free port, and a deployment's inputs for it; `via`
// gives the inputs that reach the Docker host (see sharedIngressCases).
async function sharedIngress(
  tag: string,
  via: () => Record<string, string> = () => ({}),
): Promise<{ name: string; routed: (prefix: string, extra?: Record<string, string>) => Promise<Record<string, string>> }> {
  const name = uniquePrefix(`ing-${tag}`)
  ingresses.push(name)
  const port = String(await freePort())
  return {
    name,
    routed: async (prefix, extra = {}) => {
      deployments.push(prefix)
      return {
        ...(await localInputs(prefix, { instances: '2', ...via(), ...extra })),
        'lb-port': port,
        ingress: name,
        hostname: `${prefix}.preview.test`,
        'lb-name': '',
      }
    },
  }
}

const ingressContainers = (name: string): string[] => docker('ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Names}}').split('\n').filter(Boolean)

// The cases, run on the engine itself and, on dockerd, through the VCH stand-in. `via` gives the
// inputs that reach the host (none, or the stand-in's docker-host), read when a test runs; the
// first run must say it connected to the host `connectedTo` names.
function sharedIngressCases(via: () => Record<string, string>, connectedTo: RegExp): void {
  it('serves two previews deployed at once, each under its own name only, with one load-balancer; an unknown name gets a 404 that names nothing', async () => {
    const ingress = await sharedIngress('two', via)
    const [a, b] = [uniquePrefix('inga'), uniquePrefix('ingb')]
    const [inputsA, inputsB] = await Promise.all([ingress.routed(a), ingress.routed(b, { image: IMAGES.web2 })])
    const [runA, runB] = await Promise.all([startAction(inputsA).finished, startAction(inputsB).finished])
    expect(runA.code, explain(runA)).toBe(0)
    expect(runB.code, explain(runB)).toBe(0)
    expect(runA.stdout).toMatch(connectedTo)
    expect(runA.outputs.url).toBe(`http://${a}.preview.test:${inputsA['lb-port']}`)
    expect(runA.outputs['lb-container']).toBe(runB.outputs['lb-container'])
    expect(ingressContainers(ingress.name)).toEqual([ingress.name])

    expect([...(await answers(runA.outputs.url))].every((s) => s.startsWith('200 web v1'))).toBe(true)
    expect([...(await answers(runB.outputs.url))].every((s) => s.startsWith('200 web v2'))).toBe(true)
    const unknown = await answer(`http://nobody.preview.test:${inputsA['lb-port']}/`)
    expect(unknown).toBe('404 No preview here.')
    // Each preview's objects are its own: no load-balancer among them.
    expect(objectsOf(a).filter((o) => o.includes('-lb'))).toEqual([])
  })

  it('redeploys one preview under load with no failed request of either, and its teardown leaves the other serving', async () => {
    const ingress = await sharedIngress('zdt', via)
    const [a, b] = [uniquePrefix('inga'), uniquePrefix('ingb')]
    const inputsA = await ingress.routed(a)
    const inputsB = await ingress.routed(b)
    const first = await runAction(inputsA)
    expect(first.code, explain(first)).toBe(0)
    const other = await runAction(inputsB)
    expect(other.code, explain(other)).toBe(0)

    const loads = [first, other].map((run) => startLoad(`${run.outputs.url}/`, 4, 120, undefined, {}, true))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const redeployed = await runAction({ ...inputsA, image: IMAGES.web2 })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const [onA, onB] = await Promise.all(loads.map((load) => load.stop()))
    expect(redeployed.code, explain(redeployed)).toBe(0)
    expect(onA.failures).toEqual([])
    expect(onB.failures).toEqual([])
    expect(onA.total).toBeGreaterThan(50)
    expect([...onA.bodies.keys()].some((body) => body.startsWith('web v2'))).toBe(true)

    const down = await runAction({ command: 'teardown', 'instance-prefix': a, ...via() })
    expect(down.code, explain(down)).toBe(0)
    expect(down.stdout).toContain(`Removed the route of deployment '${a}' from ingress '${ingress.name}'`)
    expect(objectsOf(a)).toEqual([])
    expect(await answer(`${first.outputs.url}/`)).toBe('404 No preview here.')
    expect([...(await answers(`${other.outputs.url}/`))].every((s) => s.startsWith('200 web v1'))).toBe(true)
  })

  it('killed while its new instances are checked: the post step puts the route back and removes them, and the preview serves on', async () => {
    const ingress = await sharedIngress('kill', via)
    const prefix = uniquePrefix('ingk')
    const inputs = await ingress.routed(prefix)
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    const before = objectsOf(prefix)

    // Never healthy: the run waits for its candidates until it is killed, once the ingress's
    // configuration routes to them (on Podman that change takes seconds after the wait began).
    const started = startAction({ ...inputs, image: IMAGES.silent })
    await expect.poll(() => lbConfig(prefix, ingress.name).includes(`backend c:${prefix}`), { timeout: 60_000, interval: 200 }).toBe(true)
    started.child.kill('SIGKILL')
    const killed = await started.finished
    expect(objectsOf(prefix).length).toBeGreaterThan(before.length)

    const post = await runPost(inputs, killed.state)
    expect(post.code, explain(post)).toBe(0)
    expect(post.stdout).toContain(`Put back the route of ${prefix}.preview.test the deployment had before on ingress '${ingress.name}'`)
    expect(post.stdout).not.toContain('::warning::')
    expect(objectsOf(prefix)).toEqual(before)
    expect(lbConfig(prefix, ingress.name)).not.toContain(`backend c:${prefix}`)
    expect([...(await answers(`${first.outputs.url}/`))].every((s) => s.startsWith('200 web v1'))).toBe(true)
  })

  it('lets prune remove routed deployments: their routes leave the ingress, which serves on', async () => {
    const ingress = await sharedIngress('prune', via)
    const base = uniquePrefix('ingp')
    const [a, b] = [`${base}-a`, `${base}-b`]
    const runs = [await runAction(await ingress.routed(a))]
    const deployedA = Date.now()
    runs.push(await runAction(await ingress.routed(b)))
    for (const run of runs) expect(run.code, explain(run)).toBe(0)

    // Prune counts whole seconds since a was last changed: older than max-age 1s once 2 s have
    // passed, whatever b's deploy took (run 1 of session 13's matrix: 1 s, so a was kept).
    await sleep(deployedA + 2_000 - Date.now())
    const pruned = await runAction({ command: 'prune', 'instance-prefix': a, 'max-age': '1s', 'haproxy-image': IMAGES.haproxy, ...via() })
    expect(pruned.code, explain(pruned)).toBe(0)
    expect(pruned.stdout).toContain(`Removed the route of deployment '${a}' from ingress '${ingress.name}'`)
    expect(objectsOf(a)).toEqual([])
    expect(await answer(`${runs[0].outputs.url}/`)).toBe('404 No preview here.')
    expect([...(await answers(`${runs[1].outputs.url}/`))].every((s) => s.startsWith('200 web v1'))).toBe(true)
    expect(ingressContainers(ingress.name)).toEqual([ingress.name])
  })

  it('keeps every route when restarted, and when removed the next deploy makes it again with every route', async () => {
    const ingress = await sharedIngress('keep', via)
    const [a, b] = [uniquePrefix('inga'), uniquePrefix('ingb')]
    const inputsA = await ingress.routed(a)
    const runs = [await runAction(inputsA), await runAction(await ingress.routed(b))]
    for (const run of runs) expect(run.code, explain(run)).toBe(0)

    docker('restart', ingress.name)
    for (const run of runs) await expect.poll(() => answer(`${run.outputs.url}/`), { timeout: 10_000 }).toMatch(/^200 web v1/)

    docker('rm', '-f', ingress.name)
    const again = await runAction(inputsA)
    expect(again.code, explain(again)).toBe(0)
    for (const run of runs) expect(await answer(`${run.outputs.url}/`)).toMatch(/^200 web v1/)
  })

  it('serves 20 previews with one load-balancer container, each under its own name', async () => {
    const ingress = await sharedIngress('twenty', via)
    const prefixes = Array.from({ length: 20 }, (_, i) => uniquePrefix(`p${i}`))
    const runs = []
    // Five at a time: deploys of different previews change the ingress's routes at once, each
    // waiting for the others' changes (on Podman a change takes seconds): what is asked here is that
    // all end up routed, not how fast (bench/ingress.ts measures that).
    const inputsOf = (prefix: string) => ingress.routed(prefix, { instances: '1', 'wait-timeout': '180' })
    for (let i = 0; i < prefixes.length; i += 5)
      runs.push(...(await Promise.all(prefixes.slice(i, i + 5).map(async (prefix) => runAction(await inputsOf(prefix))))))
    for (const run of runs) expect(run.code, explain(run)).toBe(0)
    expect(ingressContainers(ingress.name)).toEqual([ingress.name])
    expect(
      docker('ps', '--filter', 'label=io.github.vic-lb-action.role=lb', '--format', '{{.Names}}')
        .split('\n')
        .filter((n) => prefixes.some((p) => n.startsWith(p))),
    ).toEqual([])
    for (const [i, run] of runs.entries()) expect(await answer(`${run.outputs.url}/`), prefixes[i]).toMatch(/^200 web v1/)
  }, 480_000)

  it('is removed only explicitly: refused while a preview is routed, then removed with its network', async () => {
    const ingress = await sharedIngress('rm', via)
    const a = uniquePrefix('inga')
    expect((await runAction(await ingress.routed(a))).code).toBe(0)
    const refused = await runAction({ command: 'remove-ingress', ingress: ingress.name, ...via() })
    expect(refused.code).toBe(1)
    expect(refused.stdout).toContain(`::error::Ingress '${ingress.name}' still routes 1 deployment(s). Nothing was removed.`)
    expect(ingressContainers(ingress.name)).toEqual([ingress.name])
    expect((await runAction({ command: 'teardown', 'instance-prefix': a, ...via() })).code).toBe(0)
    const removed = await runAction({ command: 'remove-ingress', ingress: ingress.name, ...via() })
    expect(removed.code, explain(removed)).toBe(0)
    expect(ingressContainers(ingress.name)).toEqual([])
    expect(docker('network', 'ls', '--filter', `name=^${ingress.name}-net$`, '--format', '{{.Name}}')).toBe('')
  })

  it('refuses a deploy that names other settings for it, changing nothing', async () => {
    const ingress = await sharedIngress('same', via)
    const a = uniquePrefix('inga')
    const inputs = await ingress.routed(a)
    expect((await runAction(inputs)).code).toBe(0)
    const before = objectsOf(a)
    const moved = await runAction({ ...inputs, image: IMAGES.web2, 'lb-port': String(await freePort()) })
    expect(moved.code).toBe(1)
    expect(moved.stdout).toMatch(new RegExp(`::error::Ingress '${ingress.name}' serves the previews of several deployments and was made with lb-port`))
    expect(objectsOf(a)).toEqual(before)
  })
}

describe('a shared ingress', () => sharedIngressCases(() => ({}), /Connected to (Docker Engine|Podman) /))

// The stand-in proxies dockerd's socket: on another engine there is nothing to run it against. It
// creates containers on one network each and refuses a connect while running, as a VCH does.
describe.runIf(ON_DOCKERD)('a shared ingress through the VCH stand-in', () => {
  let proxy: VchProxy
  beforeAll(async () => {
    proxy = await startVchProxy({ mode: 'vch', startDelayMs: 1000 })
  })
  afterAll(() => proxy.close())

  sharedIngressCases(() => ({ 'docker-host': proxy.url }), /Connected to vSphere Integrated Containers host /)
})
