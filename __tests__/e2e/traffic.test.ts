import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Agent, WebSocket, fetch as fetchWith } from 'undici/index.js' // the name tsconfig.json does not map for the bundle
import { selfSignedPem } from '../../test-support/certificate'
import { IMAGES, docker, explain, freePort, localInputs, removeDeployment, runAction, sleep, uniquePrefix, until } from './harness'

// Real traffic through a load-balancer with lb-certificate, to instances of the traffic test image
// (scripts/build-test-images.sh): what the instances are told about the client, HTTP/2 to clients,
// the plain-HTTP redirect, and connections that stay open (a websocket, an event stream, a long
// request) through idle time and a reload.

const prefix = uniquePrefix('traffic')
const pem = selfSignedPem('localhost', 'ec', 'IP:127.0.0.1')
const dispatcher = new Agent({ connect: { ca: pem } })
// Longer than the slow request below (90 s) and shorter than the websocket's silence (100 s), which
// only `timeout tunnel` then keeps open; the drain ends after that silence.
const RESPONSE_TIMEOUT_S = 95
const DRAIN_TIMEOUT_S = 105
let inputs: Record<string, string>
let url: string

interface Seen {
  httpVersion: string
  remoteAddress: string
  headers: Record<string, string>
}

beforeAll(async () => {
  inputs = await localInputs(prefix, {
    image: IMAGES.traffic,
    instances: '3',
    'lb-certificate': pem,
    'http-redirect-port': String(await freePort()),
    'response-timeout': `${RESPONSE_TIMEOUT_S}s`,
    'drain-timeout': `${DRAIN_TIMEOUT_S}s`,
  })
  const run = await runAction(inputs)
  expect(run.code, explain(run)).toBe(0)
  url = run.outputs.url
})
afterAll(async () => {
  removeDeployment(prefix)
  await dispatcher.close()
})

describe('real traffic through the load-balancer', () => {
  it('admits instances whose health path takes longer than the check interval (0.5 s) to answer', async () => {
    const slowPrefix = uniquePrefix('slowcheck')
    try {
      const run = await runAction(await localInputs(slowPrefix, { image: IMAGES.traffic, instances: '2', 'health-check-path': '/slow?s=1' }))
      expect(run.code, explain(run)).toBe(0)
      expect(await (await fetch(run.outputs.url)).text()).toMatch(/^traffic /)
    } finally {
      removeDeployment(slowPrefix)
    }
  })

  it('tells the instances the scheme, host, port and address the client used, whatever the client claims', async () => {
    // Published on the Docker host, a client's connection reaches the load-balancer from the
    // network's gateway (the engine's port forwarding), or from the loopback address.
    const gateway = docker('network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', `${prefix}-net`)
    const forged = { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Port': '1' }
    for (const headers of [{}, forged]) {
      const seen = (await (await fetchWith(`${url}/headers`, { dispatcher, headers, signal: AbortSignal.timeout(5000) })).json()) as Seen
      expect(seen.headers['x-forwarded-proto']).toBe('https')
      expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${inputs['lb-port']}`)
      expect(seen.headers['x-forwarded-port']).toBe(inputs['lb-port'])
      expect([gateway, '127.0.0.1']).toContain(seen.headers['x-forwarded-for'])
      // ...and not the load-balancer's own address, from which the instance sees the request come.
      expect(seen.remoteAddress.replace(/^::ffff:/, '')).not.toBe(seen.headers['x-forwarded-for'])
      expect(seen.httpVersion).toBe('1.1')
    }
  })

  it('speaks HTTP/2 to clients that offer it, HTTP/1.1 to the instances', () => {
    const [body, version] = execFileSync('curl', ['--http2', '-sSk', '--max-time', '10', '-w', '\n%{http_version}', `${url}/headers`], {
      encoding: 'utf8',
    }).split('\n')
    expect(version).toBe('2')
    expect((JSON.parse(body) as Seen).httpVersion).toBe('1.1')
  })

  it('redirects plain HTTP on http-redirect-port to the same URL over HTTPS', async () => {
    const response = await fetch(`http://127.0.0.1:${inputs['http-redirect-port']}/some/page?q=1`, { redirect: 'manual', signal: AbortSignal.timeout(5000) })
    expect(response.status).toBe(301)
    expect(response.headers.get('location')).toBe(`${url}/some/page?q=1`)
  })

  it('keeps a websocket, an event stream and a long request open through silence and a scale change, until the drain time', async () => {
    const started = Date.now()
    const at = () => Date.now() - started

    const ws = new WebSocket(`${url.replace(/^https/, 'wss')}/ws`, { dispatcher })
    const echoes: string[] = []
    ws.addEventListener('message', (event) => echoes.push(String(event.data)))
    let closedAt = 0
    const closed = new Promise<void>((resolve) => ws.addEventListener('close', () => resolve(void (closedAt = at()))))
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve)
      ws.addEventListener('error', () => reject(new Error('the websocket did not open')))
    })

    const ticks: number[] = []
    const events = fetchWith(`${url}/events?every=5`, { dispatcher })
      .then(async (response) => {
        for await (const chunk of response.body!)
          for (const _ of Buffer.from(chunk)
            .toString()
            .matchAll(/data: tick/g))
            ticks.push(at())
      })
      // The drain's end closes it.
      .catch(() => undefined)
    const slow = fetchWith(`${url}/slow?s=90`, { dispatcher }).then(async (response) => ({
      status: response.status,
      body: (await response.text()).trim(),
      at: at(),
    }))

    // A scale change reloads HAProxy: the connections above stay with the previous worker.
    await sleep(1000)
    const scaleStarted = at()
    const scaled = runAction({ ...inputs, instances: '2' }).then((run) => ({ run, at: at() }))

    await sleep(Math.max(0, 100_000 - at()))
    ws.send('after 100 s of silence')
    await until('the echo after 100 s of silence', () => echoes.length > 0, 3000)
    expect(echoes).toEqual(['after 100 s of silence'])
    expect(closedAt).toBe(0)
    const answer = await slow
    expect(answer).toMatchObject({ status: 200, body: 'slow 90s' })
    expect(answer.at).toBeGreaterThanOrEqual(90_000)
    expect(ticks.at(-1)).toBeGreaterThanOrEqual(95_000)

    // The previous worker closes what it still holds when the drain time is over, and the deploy,
    // which waits for it before removing the instance it no longer needs, ends then.
    await closed
    await events
    expect(closedAt - scaleStarted).toBeGreaterThanOrEqual(DRAIN_TIMEOUT_S * 1000)
    expect(closedAt - scaleStarted).toBeLessThan((DRAIN_TIMEOUT_S + 20) * 1000)
    const { run, at: scaledAt } = await scaled
    expect(run.code, explain(run)).toBe(0)
    expect(scaledAt).toBeGreaterThanOrEqual(closedAt - 1000)
    console.log(
      `Through a scale change: websocket closed ${closedAt - scaleStarted} ms after it began (drain-timeout ${DRAIN_TIMEOUT_S}s), the deploy took ${scaledAt - scaleStarted} ms`,
    )
  }, 200_000)
})
