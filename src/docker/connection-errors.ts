import { X509Certificate } from 'node:crypto'
import type { DockerTarget, TcpConnection } from './target'

// Why the Docker host could not be reached, in words a user can act on. Node reports the same
// few symptoms (a refused connection, a TLS alert, a plain-text answer) for many causes; the
// inputs that were given tell which cause it is.

export interface Failure {
  what: string
  advice: string
  // Worth another try: the host may be restarting or briefly overloaded.
  transient: boolean
}

export class ProbeTimeout extends Error {
  constructor(
    readonly phase: 'connect' | 'answer',
    readonly ms: number,
  ) {
    super(`${phase} timeout after ${ms} ms`)
  }
}

// A non-200 answer, or a body that is not the Engine's JSON: something else listens there.
export class UnexpectedAnswer extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}`)
  }
}

export function explainUnreachable(target: DockerTarget, failure: Failure, attempts: number): string {
  const tries = attempts > 1 ? `; gave up after ${attempts} attempts` : ''
  return `Cannot reach the Docker host ${target.address}: ${failure.what}${tries}. ${failure.advice}`
}

// Errors of the connection itself, as opposed to an HTTP error status from the Engine.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

export function isConnectionLoss(error: unknown): error is NodeJS.ErrnoException {
  if (!(error instanceof Error) || (error as { statusCode?: number }).statusCode !== undefined) return false
  return CONNECTION_CODES.has((error as NodeJS.ErrnoException).code ?? '') || error.message === 'socket hang up'
}

// The host's certificate did not verify against the CA given (or the runner's CAs).
const SERVER_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
])
// TLS alerts a server sends about the client's certificate (TLS 1.2 and 1.3 spellings).
const CLIENT_CERT_REFUSED =
  /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(?:BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/
// What OpenSSL says when the answer to its ClientHello is plain text.
const PLAIN_TEXT_ANSWER = /wrong version number|packet length too long|http request/i

export function probeFailure(error: unknown, target: DockerTarget): Failure {
  const c = target.connection
  if (error instanceof ProbeTimeout) return timeoutFailure(error, target)
  if (error instanceof UnexpectedAnswer) return answerFailure(error, target)
  const { code = '', message = String(error) } = error as NodeJS.ErrnoException
  if ('socketPath' in c) return socketFailure(code, message, c.socketPath)
  return tlsFailure(code, message, c) ?? networkFailure(code, message, c)
}

function timeoutFailure(error: ProbeTimeout, target: DockerTarget): Failure {
  const seconds = error.ms / 1000
  if (error.phase === 'connect')
    return {
      what: `no connection within ${seconds} s`,
      advice: 'Check the host name and port, that the host is up, and that no firewall drops traffic from this runner.',
      transient: true,
    }
  const spoken = 'socketPath' in target.connection ? '' : ` (this connection used ${target.connection.protocol === 'https' ? 'TLS' : 'plain HTTP'})`
  return {
    what: `connected, but GET /version got no answer within ${seconds} s`,
    advice: `Check that docker-host points at the Docker Engine API port${spoken} and that the host is not overloaded.`,
    transient: true,
  }
}

function answerFailure(error: UnexpectedAnswer, target: DockerTarget): Failure {
  if (error.status === 400 && /HTTP request to an HTTPS server/i.test(error.body))
    return {
      what: 'the host expects TLS on this port, and this connection was plain HTTP (no TLS inputs were given)',
      advice: 'Give tls-ca-cert, tls-cert and tls-key (or DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), or write docker-host as https://host:port.',
      transient: false,
    }
  const port = 'socketPath' in target.connection ? '' : ` (port ${target.connection.port})`
  return {
    what: `GET /version answered HTTP ${error.status}${error.status === 200 ? ' with something other than the Engine API version' : ''}`,
    advice: `Check that docker-host points at the Docker Engine API${port}, not at another service.`,
    transient: error.status >= 500,
  }
}

function socketFailure(code: string, message: string, socketPath: string): Failure {
  if (code === 'EACCES')
    return { what: `no permission to use the socket ${socketPath}`, advice: 'Run the job as a user in the docker group, or set docker-host.', transient: false }
  if (code === 'ENOENT' || code === 'ECONNREFUSED')
    return {
      what: `nothing listens on the socket ${socketPath} (${code})`,
      advice: 'Check that the Docker daemon runs on this runner, or set docker-host to a remote Docker host or VCH.',
      transient: true,
    }
  return { what: code || message, advice: 'Check that the Docker daemon runs on this runner.', transient: false }
}

function tlsFailure(code: string, message: string, c: TcpConnection): Failure | undefined {
  const fix =
    "Give the CA that signed the host's certificate (the ca.pem vic-machine wrote) as tls-ca-cert, or set tls-verify to false for a VCH created with --no-tlsverify."
  if (SERVER_UNTRUSTED.has(code))
    return {
      what: c.ca
        ? `the Docker host's certificate is not signed by tls-ca-cert (${code})`
        : `the Docker host's certificate is not signed by a CA this runner trusts, and no tls-ca-cert was given (${code})`,
      advice: fix,
      transient: false,
    }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return {
      what: `the Docker host's certificate has expired or is not valid yet (${code})`,
      advice: "Renew the host's certificate (vic-machine configure --tls-cert-path / regenerate), or check the clocks of the host and this runner.",
      transient: false,
    }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return {
      what: `the Docker host's certificate is not issued for the name or address in docker-host (${code})`,
      advice: 'Use the name or address the certificate was issued for, or regenerate the certificate with this one.',
      transient: false,
    }
  if (CLIENT_CERT_REFUSED.test(code))
    return {
      what: `the Docker host refused the client certificate: ${clientCertificateProblem(c)} (${code})`,
      advice: 'Give the client certificate and key issued for this host (cert.pem and key.pem from vic-machine) as tls-cert and tls-key.',
      transient: false,
    }
  if (c.protocol === 'https' && PLAIN_TEXT_ANSWER.test(message))
    return {
      what: `the host does not speak TLS on port ${c.port}; it answered in plain text`,
      advice:
        'Use the TLS port of the Docker host (2376), or, if its API really has no TLS, leave out the TLS inputs and write docker-host as http://host:port.',
      transient: false,
    }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO')
    return { what: `the TLS handshake failed (${code})`, advice: "Check the TLS inputs against the Docker host's TLS settings.", transient: false }
  return undefined
}

// The server's alert does not say what was wrong with the certificate; what was given does.
function clientCertificateProblem(c: TcpConnection): string {
  if (!c.cert) return 'none was given, tls-cert and tls-key are empty'
  const certificate = new X509Certificate(c.cert)
  const now = Date.now()
  if (Date.parse(certificate.validTo) < now) return `the client certificate expired on ${new Date(certificate.validTo).toISOString().slice(0, 10)}`
  if (Date.parse(certificate.validFrom) > now) return `the client certificate is valid only from ${new Date(certificate.validFrom).toISOString().slice(0, 10)}`
  return 'it is not signed by a CA the host trusts, or it was revoked'
}

function networkFailure(code: string, message: string, c: TcpConnection): Failure {
  switch (code) {
    case 'ECONNREFUSED':
      return {
        what: `nothing accepts connections on port ${c.port} (ECONNREFUSED)`,
        advice: 'Check the port (2376 with TLS, 2375 without) and that dockerd or the VCH endpoint VM is running and listens there.',
        transient: true,
      }
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return {
        what: `the host name does not resolve (${code})`,
        advice: "Check the host name in docker-host and the runner's DNS.",
        transient: code === 'EAI_AGAIN',
      }
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return { what: `no route to the host (${code})`, advice: "Check that the runner can reach the host's network (VPN, firewall, routes).", transient: true }
    case 'ECONNRESET':
    case 'EPIPE':
      return {
        what: `the host closed the connection before answering (${code})`,
        advice: `Check that port ${c.port} serves the Docker Engine API${c.protocol === 'http' ? ' without TLS' : ' with TLS'}.`,
        transient: true,
      }
    default:
      // Only the code: Node's messages name the host, which may be the secret part of docker-host.
      return { what: code || message, advice: 'Check docker-host and the TLS inputs.', transient: false }
  }
}
