import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkTlsMaterial, resolveTarget, type DockerTarget } from '../src/docker/target'
import { type TlsMaterial } from '../src/inputs'
import { InputError } from '../src/errors'

const VERIFY: TlsMaterial = { verify: true }
const NO_ENV: NodeJS.ProcessEnv = {}

type TcpConnection = Extract<DockerTarget['connection'], { host: string }>

function tcp(target: DockerTarget): TcpConnection {
  expect(target.connection).toHaveProperty('host')
  return target.connection as TcpConnection
}

const dirs: string[] = []
function certDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'docker-certs-'))
  dirs.push(dir)
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text)
  return dir
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const CA = '-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n'
const CERT = '-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n'
const KEY = '-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n'

describe('resolveTarget: unix socket', () => {
  it('is the local socket when neither docker-host nor DOCKER_HOST is set', () => {
    const target = resolveTarget('', VERIFY, NO_ENV)
    expect(target.connection).toEqual({ socketPath: '/var/run/docker.sock' })
    expect(target.publishedHost).toBe('127.0.0.1')
  })

  it('takes the path of a unix:// docker-host', () => {
    expect(resolveTarget('unix:///run/user/1000/docker.sock', VERIFY, NO_ENV).connection).toEqual({ socketPath: '/run/user/1000/docker.sock' })
  })

  it('falls back to the default socket for a bare unix://', () => {
    expect(resolveTarget('unix://', VERIFY, NO_ENV).connection).toEqual({ socketPath: '/var/run/docker.sock' })
  })

  it('ignores TLS settings and DOCKER_TLS_VERIFY for a socket', () => {
    const target = resolveTarget('unix:///var/run/docker.sock', { ca: CA, verify: true }, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nonexistent' })
    expect(target.connection).toEqual({ socketPath: '/var/run/docker.sock' })
  })
})

describe('resolveTarget: DOCKER_HOST', () => {
  it('is used when docker-host is empty', () => {
    const target = resolveTarget('', VERIFY, { DOCKER_HOST: 'tcp://10.0.0.9:2375' })
    expect(tcp(target)).toMatchObject({ host: '10.0.0.9', port: 2375, protocol: 'http' })
    expect(target.publishedHost).toBe('10.0.0.9')
  })

  it('may name a socket', () => {
    expect(resolveTarget('', VERIFY, { DOCKER_HOST: 'unix:///tmp/d.sock' }).connection).toEqual({ socketPath: '/tmp/d.sock' })
  })

  it('loses to an explicit docker-host', () => {
    expect(tcp(resolveTarget('tcp://vch.example:2376', VERIFY, { DOCKER_HOST: 'tcp://10.0.0.9:2375' })).host).toBe('vch.example')
  })
})

describe('resolveTarget: TCP', () => {
  it('host:2376, as a VCH env file writes it, is HTTPS', () => {
    const target = resolveTarget('vch.example.com:2376', VERIFY, NO_ENV)
    expect(tcp(target)).toMatchObject({ host: 'vch.example.com', port: 2376, protocol: 'https', rejectUnauthorized: true })
    expect(target.publishedHost).toBe('vch.example.com')
  })

  it('tcp://host:2375 without certificates is plain HTTP', () => {
    expect(tcp(resolveTarget('tcp://h:2375', VERIFY, NO_ENV))).toMatchObject({ host: 'h', port: 2375, protocol: 'http' })
  })

  it('a host without a port goes to 2376 over HTTPS', () => {
    expect(tcp(resolveTarget('tcp://vch.example', VERIFY, NO_ENV))).toMatchObject({ host: 'vch.example', port: 2376, protocol: 'https' })
  })

  it.each([
    ['a CA', { ca: CA }],
    ['a client certificate and key', { cert: CERT, key: KEY }],
  ])('given %s, any port is HTTPS and carries the material', (_, material) => {
    for (const port of [2375, 443, 8080]) {
      const connection = tcp(resolveTarget(`tcp://h:${port}`, { ...material, verify: true }, NO_ENV))
      expect(connection).toMatchObject({ port, protocol: 'https', rejectUnauthorized: true, ...material })
    }
  })

  it('tls-verify false turns off certificate verification', () => {
    expect(tcp(resolveTarget('h:2376', { verify: false }, NO_ENV)).rejectUnauthorized).toBe(false)
    expect(tcp(resolveTarget('h:2376', { ca: CA, cert: CERT, key: KEY, verify: false }, NO_ENV))).toMatchObject({
      protocol: 'https',
      rejectUnauthorized: false,
      ca: CA,
    })
  })

  it('reads IPv6 addresses', () => {
    const target = resolveTarget('[::1]:2376', VERIFY, NO_ENV)
    expect(tcp(target)).toMatchObject({ host: '::1', port: 2376, protocol: 'https' })
    expect(target.publishedHost).toBe('::1')
    expect(tcp(resolveTarget('tcp://[fd00::12]:2375', VERIFY, NO_ENV))).toMatchObject({ host: 'fd00::12', port: 2375, protocol: 'http' })
  })

  it('keeps the address as given for log lines', () => {
    expect(resolveTarget('vch.example.com:2376', VERIFY, NO_ENV).address).toBe('vch.example.com:2376')
  })

  // http:// and https:// are accepted, so they must mean what they say.
  it('https://host:port speaks HTTPS even without certificates', () => {
    expect(tcp(resolveTarget('https://h:8443', VERIFY, NO_ENV))).toMatchObject({ host: 'h', port: 8443, protocol: 'https' })
  })

  it("http://host:80 connects to port 80 (WHATWG URL drops a scheme's default port)", () => {
    expect(tcp(resolveTarget('http://h:80', VERIFY, NO_ENV))).toMatchObject({ host: 'h', port: 80, protocol: 'http' })
  })

  it('http://host:2375 is plain HTTP', () => {
    expect(tcp(resolveTarget('http://h:2375', VERIFY, NO_ENV))).toMatchObject({ host: 'h', port: 2375, protocol: 'http' })
  })
})

describe('resolveTarget: DOCKER_TLS_VERIFY and DOCKER_CERT_PATH', () => {
  it('reads ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH', () => {
    const dir = certDir({ 'ca.pem': CA, 'cert.pem': CERT, 'key.pem': KEY })
    const connection = tcp(resolveTarget('tcp://vch:2375', VERIFY, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }))
    expect(connection).toMatchObject({ protocol: 'https', ca: CA, cert: CERT, key: KEY, rejectUnauthorized: true, port: 2375 })
  })

  it('takes the files when only some are there', () => {
    const dir = certDir({ 'ca.pem': CA })
    const connection = tcp(resolveTarget('tcp://vch:2376', VERIFY, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }))
    expect(connection).toMatchObject({ protocol: 'https', ca: CA })
    expect(connection.cert).toBeUndefined()
    expect(connection.key).toBeUndefined()
  })

  it('tls-verify false still wins over DOCKER_TLS_VERIFY', () => {
    const dir = certDir({ 'ca.pem': CA, 'cert.pem': CERT, 'key.pem': KEY })
    expect(tcp(resolveTarget('tcp://vch:2376', { verify: false }, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir })).rejectUnauthorized).toBe(false)
  })

  it('the TLS inputs win over the environment', () => {
    const dir = certDir({ 'ca.pem': 'env-ca', 'cert.pem': 'env-cert', 'key.pem': 'env-key' })
    const connection = tcp(resolveTarget('tcp://vch:2376', { ca: CA, cert: CERT, key: KEY, verify: true }, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }))
    expect(connection).toMatchObject({ ca: CA, cert: CERT, key: KEY })
  })

  it('refuses an empty certificate folder with an InputError naming the inputs to give', () => {
    const dir = certDir({})
    let caught: unknown
    try {
      resolveTarget('tcp://secret-vch.example:2376', VERIFY, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InputError)
    const message = (caught as Error).message
    expect(message).toContain(dir)
    expect(message).toContain('DOCKER_CERT_PATH')
    for (const name of ['ca.pem', 'cert.pem', 'key.pem', 'tls-ca-cert', 'tls-cert', 'tls-key']) expect(message).toContain(name)
    expect(message).not.toContain('secret-vch')
  })

  it('without DOCKER_TLS_VERIFY or DOCKER_CERT_PATH, reads no files', () => {
    expect(tcp(resolveTarget('tcp://vch:2375', VERIFY, { HOME: '/nonexistent' }))).toMatchObject({ protocol: 'http', ca: undefined })
  })
})

describe('resolveTarget: invalid docker-host', () => {
  // docker-host is a secret input: the message describes the accepted forms, never the value.
  it.each([
    'tcp://',
    'ftp://secret-host.example:2376',
    'ssh://deploy@secret-host.example',
    'tcp://secret-host.example:2376/v1.40',
    'tcp://secret-host.example:99999',
    'secret-host.example:port',
    'tcp://secret host.example:2376',
    'npipe:////./pipe/secret-host',
    'tcp://user:secret-pw@vch.example:2376',
    'tcp://secret-host.example:2376?tls=1',
    'tcp://secret-host.example:2376#x',
    'tcp://secret-host.example\n:2376',
    'tcp://secret-host.example\t:2376',
  ])('refuses %j without repeating it', (host) => {
    let caught: unknown
    try {
      resolveTarget(host, VERIFY, NO_ENV)
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InputError)
    const message = (caught as Error).message
    expect(message).toContain('docker-host')
    expect(message).toContain('tcp://host:port')
    expect(message).toContain('unix://')
    expect(message).not.toContain('secret')
  })

  it('refuses port 0', () => {
    expect(() => resolveTarget('tcp://h:0', VERIFY, NO_ENV)).toThrow(InputError)
  })

  it('refuses an invalid DOCKER_HOST the same way', () => {
    expect(() => resolveTarget('', VERIFY, { DOCKER_HOST: 'ftp://secret-host:1' })).toThrow(InputError)
  })
})

describe('checkTlsMaterial', () => {
  // A real certificate and key pair, made by openssl, and a second key that does not match.
  let cert = ''
  let key = ''
  let otherKey = ''
  beforeAll(() => {
    const dir = certDir({})
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
        '-subj',
        '/CN=vch.test',
        '-days',
        '2',
      ],
      { stdio: 'pipe' },
    )
    cert = readFileSync(path.join(dir, 'cert.pem'), 'utf8')
    key = readFileSync(path.join(dir, 'key.pem'), 'utf8')
    otherKey = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    }).privateKey
  })

  const https = (material: { ca?: string; cert?: string; key?: string }) => ({
    host: 'h',
    port: 2376,
    protocol: 'https' as const,
    rejectUnauthorized: true,
    ...material,
  })

  function refusal(material: { ca?: string; cert?: string; key?: string }): InputError {
    let caught: unknown
    try {
      checkTlsMaterial(https(material))
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InputError)
    return caught as InputError
  }

  it('accepts a matching certificate and key, with or without a CA, also as a CA bundle or with CRLF lines', () => {
    expect(() => checkTlsMaterial(https({ cert, key }))).not.toThrow()
    expect(() => checkTlsMaterial(https({ ca: cert, cert, key }))).not.toThrow()
    expect(() => checkTlsMaterial(https({ ca: cert + cert }))).not.toThrow()
    expect(() => checkTlsMaterial(https({ ca: cert.replace(/\n/g, '\r\n'), cert: cert.replace(/\n/g, '\r\n'), key: key.replace(/\n/g, '\r\n') }))).not.toThrow()
  })

  it('checks nothing for plain HTTP', () => {
    expect(() => checkTlsMaterial({ ...https({ ca: 'garbage', cert: 'x' }), protocol: 'http' })).not.toThrow()
  })

  it('wants tls-cert and tls-key together', () => {
    for (const material of [{ cert }, { key }]) {
      const error = refusal(material)
      expect(error.message).toContain('tls-cert')
      expect(error.message).toContain('tls-key')
    }
  })

  it.each([
    ['tls-ca-cert', { ca: 'not a certificate at all' }],
    ['tls-ca-cert', { ca: '-----BEGIN CERTIFICATE-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n-----END CERTIFICATE-----\n' }],
    ['tls-cert', { cert: 'secret-garbage', key: 'x' }],
    ['tls-key', { cert: 'CERT', key: 'secret-garbage' }],
  ] as [string, Record<string, string>][])('names %s when it is not PEM, without quoting it', (input, material) => {
    // The real cert and key fill in what the case does not break.
    const filled = { ...material, ...(material.cert === 'CERT' ? { cert } : {}) }
    const error = refusal(filled)
    expect(error.message).toContain(input)
    expect(error.message).toMatch(/BEGIN/)
    expect(error.message).not.toContain('secret')
  })

  it('refuses a key that does not belong to the certificate', () => {
    const error = refusal({ cert, key: otherKey })
    expect(error.message).toContain('tls-key')
    expect(error.message).toContain('tls-cert')
    expect(error.message).not.toContain('PRIVATE KEY')
  })
})
