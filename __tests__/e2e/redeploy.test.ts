import { afterAll, describe, expect, it } from 'vitest'
import { startLoad } from '../../test-support/load'
import {
  IMAGES,
  ON_DOCKERD,
  buildImage,
  distinctAnswers,
  docker,
  explain,
  localInputs,
  objectsOf,
  removeDeployment,
  removeImage,
  runAction,
  uniquePrefix,
} from './harness'

// Redeploys while requests keep coming: the new generation is checked before it gets traffic,
// HAProxy reloads gracefully, the old generation leaves afterwards, and the address stays.

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

describe('redeploy under continuous requests', () => {
  it('moves to a new image with no failed request and the same load-balancer address', async () => {
    const prefix = uniquePrefix('zdt')
    created.push(prefix)
    const inputs = await localInputs(prefix)
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)

    const load = startLoad(first.outputs.url)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const second = await runAction({ ...inputs, image: IMAGES.web2 })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const report = await load.stop()

    expect(second.code, explain(second)).toBe(0)
    expect(second.outputs.url).toBe(first.outputs.url)
    expect(second.outputs['lb-container']).toBe(first.outputs['lb-container'])
    expect(report.failures).toEqual([])
    expect(report.failed).toBe(0)
    const bodies = [...report.bodies.keys()]
    expect(bodies.some((b) => b.startsWith('web v1'))).toBe(true)
    expect(bodies.some((b) => b.startsWith('web v2'))).toBe(true)
    const after = await distinctAnswers(second.outputs.url)
    expect([...after].every((a) => a.startsWith('200 web v2'))).toBe(true)
    expect(after.size).toBe(3)
    expect(objectsOf(prefix)).toHaveLength(5)
  })

  it('reports an unchanged deployment quickly', async () => {
    const prefix = uniquePrefix('same')
    created.push(prefix)
    const inputs = await localInputs(prefix, { instances: '2' })
    expect((await runAction(inputs)).code).toBe(0)
    const started = Date.now()
    const again = await runAction(inputs)
    expect(again.code, explain(again)).toBe(0)
    expect(again.stdout).toContain('Unchanged')
    expect(again.summary).toContain('(unchanged)')
    console.log(`unchanged re-run took ${Date.now() - started} ms`)
  })
})

describe('a new HAProxy image replaces the load-balancer', () => {
  it('keeps the address and brings the previous load-balancer back when the new one fails', async () => {
    const prefix = uniquePrefix('lbimg')
    created.push(prefix)
    const inputs = await localInputs(prefix, { instances: '2' })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)

    // Not an HAProxy image at all: refused before the old load-balancer is touched.
    const foreign = await runAction({ ...inputs, 'haproxy-image': IMAGES.web2 })
    expect(foreign.code, explain(foreign)).toBe(1)
    expect(foreign.stdout).toMatch(
      /Could not put the HAProxy configuration into \/usr\/local\/etc\/haproxy of load-balancer .*haproxy-image must be built like the official haproxy image/,
    )
    expect(docker('inspect', '-f', '{{.Id}} {{.State.Status}}', `${prefix}-lb`)).toBe(`${first.outputs['lb-container']} running`)

    // An HAProxy image that exits at start: the old load-balancer has stepped aside by then and
    // must be started again.
    const brokenImage = `${prefix}-haproxy:broken`
    buildImage(brokenImage, `FROM ${IMAGES.haproxy}\nCMD ["haproxy", "-f", "/no/such.cfg"]\n`)
    try {
      const broken = await runAction({ ...inputs, 'haproxy-image': brokenImage })
      expect(broken.code, explain(broken)).toBe(1)
      expect(broken.stdout).toMatch(/Load-balancer .* exited with code [1-9]/)
      expect(broken.stdout).toContain('Started the previous load-balancer')
    } finally {
      await removeImage(brokenImage)
    }
    expect(docker('inspect', '-f', '{{.Id}} {{.State.Status}}', `${prefix}-lb`)).toBe(`${first.outputs['lb-container']} running`)
    expect((await distinctAnswers(first.outputs.url)).size).toBe(2)
    expect(objectsOf(prefix)).toHaveLength(4)

    // A working new image: the load-balancer is a new container on the same address and port.
    buildImage(`${prefix}-haproxy:next`, `FROM ${IMAGES.haproxy}\nLABEL build=next\n`)
    try {
      const load = startLoad(first.outputs.url, 2)
      const replaced = await runAction({ ...inputs, 'haproxy-image': `${prefix}-haproxy:next` })
      const report = await load.stop()
      expect(replaced.code, explain(replaced)).toBe(0)
      expect(replaced.outputs['lb-container']).not.toBe(first.outputs['lb-container'])
      expect(replaced.outputs.url).toBe(first.outputs.url)
      expect((await distinctAnswers(replaced.outputs.url)).size).toBe(2)
      expect(objectsOf(prefix)).toHaveLength(4)
      console.log(`HAProxy image change: ${report.failed} of ${report.total} requests failed, within ${report.failureWindowMs} ms`)
      // The gap between the old load-balancer's stop and the new one's start (README, "A new HAProxy
      // image"). Twice the most measured: dockerd 2.8 s of refused connections; Podman 5.1 s, where
      // the requests of the gap hang until the load's 5 s timeout instead of being refused.
      expect(report.failureWindowMs).toBeLessThan(ON_DOCKERD ? 6_000 : 10_500)
    } finally {
      removeDeployment(prefix)
      await removeImage(`${prefix}-haproxy:next`)
    }
  })
})
