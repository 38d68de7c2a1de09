import { describe, expect, it } from 'vitest'
import { ProbeTimeout, UnexpectedAnswer, explainUnreachable, isConnectionLoss, probeFailure } from '../src/docker/connection-errors'
import type { DockerTarget } from '../src/docker/target'
import { expiredCertificatePem } from '../test-support/certificate'

// The e2e faults test produces the common failures against a real dockerd; these are the ones it
// cannot (an expired host certificate, a wrong host name, DNS) and the rules around them.

function tcp(extra: Partial<Extract<DockerTarget['connection'], { host: string }>> = {}): DockerTarget {
  return {
    address: 'tcp://vch.example:2376',
    publishedHost: 'vch.example',
    connection: { host: 'vch.example', port: 2376, protocol: 'https', rejectUnauthorized: true, ...extra },
  }
}
const socket: DockerTarget = { address: 'unix:///var/run/docker.sock', publishedHost: '127.0.0.1', connection: { socketPath: '/var/run/docker.sock' } }

function coded(code: string, message = code): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code })
}

describe('probeFailure', () => {
  it.each([
    ['CERT_HAS_EXPIRED', /host's certificate has expired or is not valid yet/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', /not issued for the name or address in docker-host/],
    ['SELF_SIGNED_CERT_IN_CHAIN', /not signed by tls-ca-cert/],
  ])('%s is a problem of the host certificate, not retried', (code, message) => {
    const failure = probeFailure(coded(code), tcp({ ca: 'x' }))
    expect(failure.what).toMatch(message)
    expect(failure.transient).toBe(false)
  })

  it('without tls-ca-cert, an untrusted host certificate asks for one', () => {
    expect(probeFailure(coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), tcp()).what).toContain('no tls-ca-cert was given')
  })

  it('a TLS 1.3 "certificate required" alert is a refused client certificate', () => {
    expect(probeFailure(coded('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), tcp()).what).toMatch(/refused the client certificate: none was given/)
  })

  it('an expired client certificate is named with its end date', () => {
    expect(probeFailure(coded('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE'), tcp({ cert: expiredCertificatePem(), key: 'k' })).what).toContain('expired on 2020-01-02')
  })

  it('DNS: a name that does not resolve is final, a temporary failure is retried', () => {
    expect(probeFailure(coded('ENOTFOUND', 'getaddrinfo ENOTFOUND vch.example'), tcp())).toMatchObject({
      transient: false,
      what: 'the host name does not resolve (ENOTFOUND)',
    })
    expect(probeFailure(coded('EAI_AGAIN'), tcp()).transient).toBe(true)
  })

  it('timeouts and refusals are retried', () => {
    expect(probeFailure(new ProbeTimeout('connect', 5000), tcp()).transient).toBe(true)
    expect(probeFailure(coded('ECONNREFUSED'), tcp()).transient).toBe(true)
    expect(probeFailure(coded('ENOENT'), socket)).toMatchObject({ transient: true, what: 'nothing listens on the socket /var/run/docker.sock (ENOENT)' })
  })

  it('an HTTP answer that is not the Engine: names the status, not the body', () => {
    const failure = probeFailure(new UnexpectedAnswer(404, '<html>secret page</html>'), tcp())
    expect(failure.what).toBe('GET /version answered HTTP 404')
    expect(failure.advice).toContain('port 2376')
  })

  it("never repeats Node's message, which names the host", () => {
    expect(probeFailure(coded('EWEIRD', 'connect EWEIRD vch.example:2376'), tcp()).what).toBe('EWEIRD')
  })
})

describe('explainUnreachable', () => {
  it('names the host, what failed, the attempts and what to do', () => {
    const message = explainUnreachable(tcp(), probeFailure(coded('ECONNREFUSED'), tcp()), 3)
    expect(message).toBe(
      'Cannot reach the Docker host tcp://vch.example:2376: nothing accepts connections on port 2376 (ECONNREFUSED); gave up after 3 attempts. Check the port (2376 with TLS, 2375 without) and that dockerd or the VCH endpoint VM is running and listens there.',
    )
  })
})

describe('isConnectionLoss', () => {
  it('is a failed connection, never an HTTP error from the Engine', () => {
    expect(isConnectionLoss(coded('ECONNREFUSED'))).toBe(true)
    expect(isConnectionLoss(new Error('socket hang up'))).toBe(true)
    expect(isConnectionLoss(Object.assign(coded('ECONNRESET'), { statusCode: 500 }))).toBe(false)
    expect(isConnectionLoss(Object.assign(new Error('(HTTP code 404) no such container'), { statusCode: 404 }))).toBe(false)
  })
})
