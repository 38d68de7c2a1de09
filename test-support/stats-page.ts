import * as https from 'node:https'
import { pinnedTo } from '../src/haproxy/stats-certificate'

// One GET of a load-balancer's stats page as readiness makes it: over TLS, trusting the
// load-balancer's own stats certificate alone. Its status and body.
export function getStatsPage(
  url: string,
  certificate: string,
  headers: Record<string, string> = {},
  timeoutMs = 5_000,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ...pinnedTo(certificate), headers, agent: false, signal: AbortSignal.timeout(timeoutMs) }, (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }))
        response.on('error', reject)
      })
      .on('error', reject)
  })
}
