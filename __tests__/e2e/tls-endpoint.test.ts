import * as fs from 'node:fs'
import * as https from 'node:https'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { TLS_DIR, tlsEndpoint } from './harness'

// The suite's TLS endpoint (test-support/docker-tls-proxy.ts) guards the engine as
// `dockerd --tlsverify` does, or the TLS tests would prove nothing: the test client certificate is
// let through to the engine; no certificate, one from another CA and an expired one are refused.

function ping(certDir?: string): Promise<string> {
  const read = (file: string) => fs.readFileSync(path.join(TLS_DIR, file))
  const [host, port] = tlsEndpoint().split(':')
  return new Promise((resolve, reject) => {
    const request = https.get(
      {
        host,
        port: Number(port),
        path: '/_ping',
        ca: read('ca.pem'),
        ...(certDir === undefined ? {} : { cert: read(path.join(certDir, 'cert.pem')), key: read(path.join(certDir, 'key.pem')) }),
        agent: false,
        timeout: 5000,
      },
      (response) => {
        let body = ''
        response.on('data', (chunk: Buffer) => (body += chunk))
        response.on('end', () => resolve(`${response.statusCode} ${body}`))
      },
    )
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', reject)
  })
}

describe("the suite's TLS endpoint", () => {
  it('passes a request with the test client certificate on to the engine', async () => {
    expect(await ping('.')).toBe('200 OK')
  })

  it.each([
    ['no client certificate', undefined],
    ['a client certificate from another CA', 'other-ca'],
    ['an expired client certificate', 'expired'],
  ])('refuses %s', async (_, certDir) => {
    await expect(ping(certDir)).rejects.toThrow(/alert|socket hang up|ECONNRESET/i)
  })

  it('answers plain HTTP as dockerd does, so that the action can say what is wrong', async () => {
    const response = await fetch(`http://${tlsEndpoint()}/_ping`, { signal: AbortSignal.timeout(5000) })
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('Client sent an HTTP request to an HTTPS server.')
  })
})
