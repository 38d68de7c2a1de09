import type { LookupFunction } from 'node:net'
import { Agent, fetch as fetchWith } from 'undici/index.js' // the name tsconfig.json does not map for the bundle

// A bounded load generator shared by the end-to-end tests and the benchmarks. It only ever aims
// at the URL it is given: the tests and benchmarks give it the load-balancer they deployed.

export interface LoadReport {
  total: number
  failed: number
  failures: string[]
  // How many answers came from each body, e.g. 'web v2 <hostname>'.
  bodies: Map<string, number>
  // From the first failed request to the last one, in ms (0 when none failed).
  failureWindowMs: number
}

// A bounded load generator: `concurrency` clients with keep-alive send GETs back to back until
// stopped, or until `maxSeconds` at the latest. With `ca`, an https URL's certificate is verified
// against it (a test's self-signed certificate). Every request carries `headers` (credentials).
// With `onLoopback`, the URL's host name is connected to on 127.0.0.1 (a shared ingress's preview,
// whose name no DNS knows): fetch sends no Host header of a test's choosing.
export function startLoad(
  url: string,
  concurrency = 4,
  maxSeconds = 120,
  ca?: string,
  headers: Record<string, string> = {},
  onLoopback = false,
): { stop: () => Promise<LoadReport> } {
  const dispatcher = ca || onLoopback ? new Agent({ connect: { ...(ca ? { ca } : {}), ...(onLoopback ? { lookup: toLoopback } : {}) } }) : undefined
  const report: LoadReport = { total: 0, failed: 0, failures: [], bodies: new Map(), failureWindowMs: 0 }
  let firstFailure = 0
  const until = Date.now() + maxSeconds * 1000
  let running = true
  const client = async (): Promise<void> => {
    while (running && Date.now() < until) {
      report.total++
      try {
        const options = { signal: AbortSignal.timeout(5000), headers }
        const response = dispatcher ? await fetchWith(url, { ...options, dispatcher }) : await fetch(url, options)
        const body = (await response.text()).trim()
        if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${body.slice(0, 80)}`)
        report.bodies.set(body, (report.bodies.get(body) ?? 0) + 1)
      } catch (error) {
        report.failed++
        firstFailure ||= Date.now()
        report.failureWindowMs = Date.now() - firstFailure
        if (report.failures.length < 10) report.failures.push(String((error as Error).cause ?? error))
      }
    }
  }
  const clients = Array.from({ length: concurrency }, client)
  return {
    stop: async () => {
      running = false
      await Promise.all(clients)
      await dispatcher?.close()
      return report
    },
  }
}

// A lookup that answers 127.0.0.1 for every name (net.connect's lookup option).
export const toLoopback: LookupFunction = (_hostname, options, done) => {
  if (options.all) done(null, [{ address: '127.0.0.1', family: 4 }])
  else done(null, '127.0.0.1', 4)
}
