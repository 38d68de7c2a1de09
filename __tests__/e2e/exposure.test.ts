import { afterAll, describe, expect, it } from 'vitest'
import { docker, explain, lbConfig, localInputs, removeDeployment, runAction, statsAuthorization, uniquePrefix } from './harness'

// The load-balancer's stats page lists every instance's name, address and state, and is reachable
// wherever the load-balancer is (here: a published host port). It answers only with the
// credentials generated for this load-balancer, which live nowhere but in its configuration: not
// in the log, the job summary or any label. A redeploy reads them back from there.
// Traffic goes only to 127.0.0.1 (the published load-balancer).

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

describe('the stats page', () => {
  const prefix = uniquePrefix('stats')
  created.push(prefix)
  let inputs: Record<string, string>
  let statsUrl: string

  const statusWith = async (headers: Record<string, string>): Promise<number> => {
    const response = await fetch(`${statsUrl};csv`, { headers, signal: AbortSignal.timeout(5000) })
    await response.body?.cancel()
    return response.status
  }

  it('refuses a request without the credentials, and answers with them', async () => {
    inputs = await localInputs(prefix)
    const run = await runAction(inputs)
    expect(run.code, explain(run)).toBe(0)
    const port = docker('inspect', '-f', '{{(index (index .NetworkSettings.Ports "8404/tcp") 0).HostPort}}', `${prefix}-lb`)
    statsUrl = `http://127.0.0.1:${port}/stats`

    expect(await statusWith({})).toBe(401)
    expect(await statusWith({ authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` })).toBe(401)
    expect(await statusWith({ authorization: statsAuthorization(prefix) })).toBe(200)

    const password = /^\s*stats auth [^:]+:(\S+)$/m.exec(lbConfig(prefix))![1]
    expect(password).toMatch(/^[0-9a-f]{48}$/)
    // Masked for the log, shown nowhere.
    expect(run.stdout).toContain(`::add-mask::${password}`)
    expect(run.stdout.replace(`::add-mask::${password}`, '')).not.toContain(password)
    expect(run.stderr).not.toContain(password)
    expect(run.summary).not.toContain(password)
    expect(run.summary).toContain('stats auth vic-lb:(generated, kept only in the load-balancer)')
    expect(docker('inspect', '-f', '{{json .Config.Labels}} {{json .Config.Env}}', `${prefix}-lb`)).not.toContain(password)
  })

  it('keeps its credentials when a redeploy keeps the load-balancer, and readiness reads them back', async () => {
    const before = lbConfig(prefix)
    const run = await runAction({ ...inputs, instances: '2' })
    expect(run.code, explain(run)).toBe(0)
    const after = lbConfig(prefix)
    expect(after).not.toBe(before)
    const authOf = (config: string) => /^\s*stats auth (\S+)$/m.exec(config)?.[1]
    expect(authOf(after)).toBe(authOf(before))
    expect(await statusWith({})).toBe(401)
    expect(await statusWith({ authorization: statsAuthorization(prefix) })).toBe(200)
  })
})
