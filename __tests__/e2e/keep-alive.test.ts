import * as http from 'node:http'
import { afterAll, describe, expect, it } from 'vitest'
import { IMAGES, explain, localInputs, removeDeployment, runAction, sleep, uniquePrefix } from './harness'

// Keep-alive clients as applications use them, sending at random moments while the deployment is
// redeployed: no request may fail and none is sent again. A request sent on an idle connection just
// as HAProxy closes it would fail (ECONNRESET "socket hang up", undici's "other side closed"):
// HAProxy keeps idle connections longer than these clients wait, and a reload's old worker answers
// the next request on each with `Connection: close` instead of closing it under the client.

const prefix = uniquePrefix('keepalive')
afterAll(() => removeDeployment(prefix))

const RUN_MS = 60_000
const REDEPLOYS = [IMAGES.web2, IMAGES.web1, IMAGES.web2]

interface Sent {
  gapMs: number // since the previous answer on this client
  reused: boolean // on a connection an earlier request used
  answer: string
  connection: string | undefined
}

// One request through `agent` (Node's http.get, no retry), or through fetch (undici's own pool).
function viaAgent(url: string, agent: http.Agent): Promise<Omit<Sent, 'gapMs'>> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, timeout: 10_000 }, (response) => {
      let body = ''
      response.on('data', (chunk) => (body += chunk))
      response.on('end', () =>
        resolve({ reused: request.reusedSocket, answer: `${response.statusCode} ${body.trim()}`, connection: response.headers.connection }),
      )
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error('no answer within 10 s')))
    request.on('error', reject)
  })
}
async function viaFetch(url: string): Promise<Omit<Sent, 'gapMs'>> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  return { reused: false, answer: `${response.status} ${(await response.text()).trim()}`, connection: undefined }
}

describe('keep-alive clients across redeploys', () => {
  it("loses no request of keep-alive clients sending every 0.5-5 s for 60 s across 3 redeploys (http.Agent({ keepAlive: true }), Node's default agent, fetch)", async () => {
    const inputs = await localInputs(prefix, { instances: '2' })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    const url = `${first.outputs.url}/`

    // Node's default agent keeps connections alive and reads the Keep-Alive header; a bare
    // http.Agent({ keepAlive: true }) keeps them with no timeout of its own and ignores the header.
    expect((http.globalAgent as http.Agent & { keepAlive: boolean }).keepAlive).toBe(true)
    const bareAgents = [1, 2, 3].map(() => new http.Agent({ keepAlive: true }))
    const clients: [string, () => Promise<Omit<Sent, 'gapMs'>>][] = [
      ...bareAgents.map((agent, i): [string, () => Promise<Omit<Sent, 'gapMs'>>] => [`http.Agent({ keepAlive: true }) #${i + 1}`, () => viaAgent(url, agent)]),
      ["http.get with Node's default agent", () => viaAgent(url, http.globalAgent)],
      ['fetch', () => viaFetch(url)],
    ]
    const sent = new Map<string, Sent[]>(clients.map(([name]) => [name, []]))
    const failures: string[] = []
    const started = Date.now()
    let redeploying = true
    const sending = clients.map(async ([name, send]) => {
      let gapMs = 0
      while (redeploying || Date.now() - started < RUN_MS) {
        try {
          sent.get(name)!.push({ gapMs, ...(await send()) })
        } catch (error) {
          failures.push(`${name}, ${Math.round(gapMs)} ms after its previous answer: ${String(error)} ${String((error as Error).cause ?? '')}`)
        }
        gapMs = 500 + Math.random() * 4500
        await sleep(gapMs)
      }
    })
    try {
      for (const image of REDEPLOYS) {
        await sleep(2000 + Math.random() * 6000)
        const run = await runAction({ ...inputs, image })
        expect(run.code, explain(run)).toBe(0)
      }
    } finally {
      redeploying = false
      await Promise.all(sending)
      for (const agent of bareAgents) agent.destroy()
    }

    const all = [...sent.values()].flat()
    expect(failures, `${failures.length} failed, ${all.length} answered`).toEqual([])
    expect(Date.now() - started).toBeGreaterThanOrEqual(RUN_MS)
    for (const [name, answers] of sent) expect(answers.length, name).toBeGreaterThanOrEqual(10)
    for (const { answer } of all) expect(answer).toMatch(/^200 web v[12] [0-9a-f]{12}$/)
    // Both generations served while the clients sent.
    expect(new Set(all.map(({ answer }) => answer.slice(0, 10)))).toEqual(new Set(['200 web v1', '200 web v2']))
    const bare = bareAgents.flatMap((_, i) => sent.get(`http.Agent({ keepAlive: true }) #${i + 1}`)!)
    // The bare agents reused connections left idle beyond the 2 s announced...
    expect(bare.filter((s) => s.reused && s.gapMs > 2500).length).toBeGreaterThan(0)
    // ...and the old workers let go of their connections with `Connection: close` on an answer.
    expect(bare.filter((s) => s.connection === 'close').length).toBeGreaterThanOrEqual(REDEPLOYS.length)
  }, 240_000)
})
