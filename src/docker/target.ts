import { X509Certificate, createPrivateKey } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { InputError } from '../errors'
import { type TlsMaterial } from '../inputs'

// Where the Docker Engine API is and how to speak to it, worked out the way the docker CLI does
// from the inputs and the DOCKER_* environment. Pure apart from reading DOCKER_CERT_PATH files.

export interface DockerTarget {
  // How log lines and errors name the endpoint.
  address: string
  // Where a port published on the Docker host is reached from here.
  publishedHost: string
  connection: { socketPath: string } | TcpConnection
}

export interface TcpConnection {
  host: string
  port: number
  protocol: 'http' | 'https'
  ca?: string
  cert?: string
  key?: string
  rejectUnauthorized: boolean
}

const DEFAULT_SOCKET = '/var/run/docker.sock'
const TLS_PORT = 2376

export function resolveTarget(dockerHost: string, tls: TlsMaterial, env: NodeJS.ProcessEnv): DockerTarget {
  const address = dockerHost || env.DOCKER_HOST || `unix://${DEFAULT_SOCKET}`
  if (address.startsWith('unix://')) {
    const socketPath = address.slice('unix://'.length) || DEFAULT_SOCKET
    return { address, publishedHost: '127.0.0.1', connection: { socketPath } }
  }
  const { host, port, scheme } = parseTcpAddress(address)
  const material = hasCertificates(tls) ? tls : certificatesFromEnvironment(tls, env)
  const protocol = schemeProtocol(scheme) ?? (hasCertificates(material) || port === TLS_PORT ? 'https' : 'http')
  return {
    address,
    publishedHost: host,
    connection: {
      host,
      port,
      protocol,
      ca: material.ca,
      cert: material.cert,
      key: material.key,
      rejectUnauthorized: material.verify,
    },
  }
}

type Scheme = 'tcp' | 'http' | 'https'

// An explicit http:// or https:// says how to speak; tcp:// and a bare host:port follow the docker
// CLI: TLS when certificates are given or the port is 2376.
function schemeProtocol(scheme: Scheme): 'http' | 'https' | undefined {
  return scheme === 'tcp' ? undefined : scheme
}

function parseTcpAddress(address: string): { host: string; port: number; scheme: Scheme } {
  // Parsed as tcp:// whatever the scheme: WHATWG URLs drop a special scheme's default port
  // (http://h:80 would lose its 80).
  const match = /^(?:([a-z]+):\/\/)?(.*)$/s.exec(address)!
  const scheme = (match[1] ?? 'tcp') as Scheme
  let url: URL
  try {
    url = new URL(`tcp://${match[2]}`)
  } catch {
    throw new InputError(invalidHost())
  }
  if (!['tcp', 'http', 'https'].includes(scheme) || !isHostAndPort(url, match[2])) throw new InputError(invalidHost())
  const port = url.port ? Number(url.port) : TLS_PORT
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, scheme }
}

// Nothing but a host and a port: WHATWG URLs silently drop tabs and newlines, and would ignore a
// user name, path, query or fragment that the user meant for something.
function isHostAndPort(url: URL, text: string): boolean {
  const extras = url.username || url.password || url.search || url.hash || (url.pathname !== '' && url.pathname !== '/')
  return !!url.hostname && !extras && url.port !== '0' && !/[\s\p{Cc}]/u.test(text)
}

// The value itself may be a secret, so the message describes the form without repeating it.
function invalidHost(): string {
  return "Invalid docker-host. Expected 'tcp://host:port', 'host:port' or 'unix:///path/to/docker.sock'."
}

function hasCertificates(tls: TlsMaterial): boolean {
  return !!(tls.ca || tls.cert || tls.key)
}

// As the docker CLI: DOCKER_TLS_VERIFY turns TLS on, with ca.pem, cert.pem and key.pem taken from
// DOCKER_CERT_PATH (default ~/.docker). Inputs given explicitly always win.
function certificatesFromEnvironment(tls: TlsMaterial, env: NodeJS.ProcessEnv): TlsMaterial {
  if (!env.DOCKER_TLS_VERIFY && !env.DOCKER_CERT_PATH) return tls
  const dir = env.DOCKER_CERT_PATH || path.join(os.homedir(), '.docker')
  const read = (file: string): string | undefined => {
    const full = path.join(dir, file)
    return fs.existsSync(full) ? fs.readFileSync(full, 'utf8') : undefined
  }
  // Any value of DOCKER_TLS_VERIFY, even '0', means verify, as for the docker CLI; tls-verify decides.
  const material = { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), verify: tls.verify }
  if (!hasCertificates(material))
    throw new InputError(
      `DOCKER_TLS_VERIFY/DOCKER_CERT_PATH ask for TLS, but ${dir} holds none of ca.pem, cert.pem, key.pem. Give tls-ca-cert, tls-cert and tls-key, or point DOCKER_CERT_PATH at the folder vic-machine wrote.`,
    )
  return material
}

// Material that cannot work is named before any connection is tried; the messages name the input,
// never its contents. Node would otherwise ignore an unreadable CA and fail later as "unable to verify".
export function checkTlsMaterial(c: TcpConnection): void {
  if (c.protocol !== 'https') return
  if (!!c.cert !== !!c.key) throw new InputError('tls-cert and tls-key go together: give both or neither.')
  const certificate = c.cert ? parsePem(() => new X509Certificate(c.cert!), 'tls-cert', 'a PEM certificate') : undefined
  const key = c.key ? parsePem(() => createPrivateKey(c.key!), 'tls-key', 'a PEM private key') : undefined
  if (c.ca) parsePem(() => new X509Certificate(c.ca!), 'tls-ca-cert', 'a PEM certificate')
  if (certificate && key && !certificate.checkPrivateKey(key))
    throw new InputError('tls-key is not the private key of tls-cert. Give the key.pem that belongs to cert.pem.')
}

function parsePem<T>(parse: () => T, input: string, expected: string): T {
  try {
    return parse()
  } catch {
    throw new InputError(`${input} is not ${expected}. Paste the whole file, including its -----BEGIN and -----END lines.`)
  }
}
