import * as http from 'node:http'
import { afterAll, describe, expect, it } from 'vitest'
import { getStatsPage } from '../../test-support/stats-page'
import { docker, explain, localInputs, removeDeployment, runAction, statsAuthorization, statsCertificate, uniquePrefix } from './harness'

// An instance dies under load: 8 keep-alive clients, each giving a request 5 s, send GETs through
// the load-balancer for 8 s and one of 3 instances is killed (SIGKILL) after 3 s. No GET may fail
// or take 2 s or more (HAProxy retries on another instance at once: config.ts retry-on, timeout
// connect, redispatch), and HAProxy must take the dead instance out of rotation within its
// health-check timing (inter 500ms, fastinter 100ms, fall 2).
// Traffic goes only to 127.0.0.1 (the published load-balancer and its stats page).

const CONCURRENCY = 8
const CLIENT_TIMEOUT_MS = 5_000
const MAX_LATENCY_MS = 2_000
const DURATION_MS = 8_000
const KILL_AT_MS = 3_000

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

interface Sample {
  start: number
  ms: number
  answeredBy?: string
  failure?: string
}

// Bounded: CONCURRENCY loops, each stops at the deadline; a request gets at most CLIENT_TIMEOUT_MS.
async function load(url: string, deadline: number): Promise<Sample[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const samples: Sample[] = []
  const client = async (): Promise<void> => {
    while (Date.now() < deadline) samples.push(await get(url, agent))
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, client))
  agent.destroy()
  return samples
}

function get(url: string, agent: http.Agent): Promise<Sample> {
  const start = Date.now()
  return new Promise((resolve) => {
    const request = http.get(url, { agent, timeout: CLIENT_TIMEOUT_MS }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
      response.on('end', () => {
        const ms = Date.now() - start
        if (response.statusCode === 200) resolve({ start, ms, answeredBy: body.trim().split(' ').pop() })
        else resolve({ start, ms, failure: `HTTP ${response.statusCode} ${body.trim().slice(0, 60)}` })
      })
    })
    request.on('timeout', () => request.destroy(new Error(`no answer within ${CLIENT_TIMEOUT_MS} ms`)))
    request.on('error', (error) => resolve({ start, ms: Date.now() - start, failure: (error as NodeJS.ErrnoException).code ?? error.message }))
  })
}

// HAProxy's own view: the first moment the server is no longer UP, polled every 100 ms.
async function watchUntilOut(
  statsUrl: string,
  certificate: string,
  authorization: string,
  server: string,
  deadline: number,
): Promise<{ at?: number; status?: string }> {
  while (Date.now() < deadline) {
    const csv = await getStatsPage(`${statsUrl};csv`, certificate, { authorization }, 2000)
      .then((r) => r.text)
      .catch(() => '')
    const row = csv.split('\n').find((line) => line.startsWith(`instances,${server},`))
    const status = row?.split(',')[17]
    if (status && !status.startsWith('UP')) return { at: Date.now(), status }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {}
}

const percentile = (values: number[], p: number): number =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]

describe('an instance killed under load', () => {
  it('costs no GET, and leaves rotation within the health-check timing', async () => {
    const prefix = uniquePrefix('load')
    created.push(prefix)
    const deployed = await runAction(await localInputs(prefix, { instances: '3' }))
    expect(deployed.code, explain(deployed)).toBe(0)
    const [victim] = JSON.parse(deployed.outputs.instances) as string[]
    const victimHost = docker('inspect', '-f', '{{.Config.Hostname}}', victim)
    const statsPort = docker('inspect', '-f', '{{(index (index .NetworkSettings.Ports "8404/tcp") 0).HostPort}}', `${prefix}-lb`)
    const authorization = statsAuthorization(prefix)

    const started = Date.now()
    const running = load(deployed.outputs.url, started + DURATION_MS)
    await new Promise((resolve) => setTimeout(resolve, KILL_AT_MS))
    const watching = watchUntilOut(`https://127.0.0.1:${statsPort}/stats`, statsCertificate(prefix), authorization, victim, started + DURATION_MS + 5_000)
    docker('kill', victim)
    const killedAt = Date.now()
    const [samples, out] = await Promise.all([running, watching])

    const failed = samples.filter((s) => s.failure)
    const answeredByVictim = samples.filter((s) => s.answeredBy === victimHost)
    const lastByVictim = Math.max(...answeredByVictim.map((s) => s.start + s.ms))
    const afterKill = samples.filter((s) => s.start >= killedAt)
    const latencies = samples.map((s) => s.ms)
    const outAfterMs = out.at === undefined ? undefined : out.at - killedAt
    console.log(
      [
        `requests: ${samples.length} in ${DURATION_MS / 1000} s (${Math.round(samples.length / (DURATION_MS / 1000))}/s) at concurrency ${CONCURRENCY}`,
        `failed: ${failed.length}${failed.length ? ` (${[...new Set(failed.map((s) => s.failure))].join('; ')})` : ''}`,
        `latency ms: p50 ${percentile(latencies, 50)}, p99 ${percentile(latencies, 99)}, max ${Math.max(...latencies)}; after the kill p99 ${percentile(
          afterKill.map((s) => s.ms),
          99,
        )}`,
        `killed ${victim} at +${killedAt - started} ms; its last answer ended ${lastByVictim - killedAt} ms after the kill; ${answeredByVictim.length} answers from it in all`,
        `out of rotation (stats: ${out.status ?? 'still UP'}) ${outAfterMs ?? '-'} ms after the kill`,
      ].join('\n'),
    )

    expect(failed.map((s) => s.failure)).toEqual([])
    expect(Math.max(...latencies)).toBeLessThan(MAX_LATENCY_MS)
    expect(answeredByVictim.length).toBeGreaterThan(0)
    expect(lastByVictim).toBeLessThanOrEqual(killedAt + 100)
    // Up to 0.5 s until the next check (inter), then fall 2 failed checks, each failing at its
    // 0.5 s connect timeout (min(timeout connect, inter)), 100 ms (fastinter) apart: 1.1-1.6 s.
    expect(outAfterMs).toBeDefined()
    expect(outAfterMs!).toBeLessThan(4_000)
  })
})
