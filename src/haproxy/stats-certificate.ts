import { X509Certificate, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import type { ConnectionOptions, PeerCertificate } from 'node:tls'

// The stats page and its credentials travel over the routable network, polled every 100 ms, so
// HAProxy serves it over TLS with a certificate of its own: self-signed, made per load-balancer,
// kept nowhere but inside it (STATS_CERTIFICATE_PATH) and read back from there by the next run,
// as the credentials are (stats-auth.ts). The readiness client trusts that one certificate only.

export interface StatsCertificate {
  // What HAProxy's `crt` loads: the certificate and its private key in one PEM.
  pem: string
  // The certificate alone: what the readiness client trusts.
  certificate: string
  // Whether the load-balancer holds it already; one made by an earlier version of the action does not.
  inside: boolean
}

// Node makes keys and signatures but no certificate, so this DER-encodes the one certificate the
// action needs (X.509 v1, ECDSA P-256 with SHA-256) rather than bundle an ASN.1/X.509 library.
export function newStatsCertificate(commonName: string): StatsCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const serial = randomBytes(16)
  serial[0] = (serial[0] & 0x7f) | 0x40 // positive, and no leading zero byte to trim
  const name = der(SEQUENCE, der(SET, der(SEQUENCE, COMMON_NAME, der(UTF8_STRING, Buffer.from(commonName)))))
  const tbs = der(
    SEQUENCE,
    der(INTEGER, serial),
    ECDSA_WITH_SHA256,
    name,
    // From a day back (the Docker host's clock may be behind the runner's) to no end: the
    // certificate is pinned, and a kept load-balancer may serve for years.
    der(SEQUENCE, time(new Date(Date.now() - 86_400_000)), time(new Date('9999-12-31T23:59:59Z'))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
  )
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' })
  const body = der(SEQUENCE, tbs, ECDSA_WITH_SHA256, der(BIT_STRING, Buffer.from([0]), signature))
  const base64 = body
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')
  const certificate = `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`
  return { pem: certificate + privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), certificate, inside: false }
}

const [INTEGER, BIT_STRING, UTF8_STRING, UTC_TIME, GENERALIZED_TIME, SEQUENCE, SET] = [0x02, 0x03, 0x0c, 0x17, 0x18, 0x30, 0x31]
// OIDs 1.2.840.10045.4.3.2 (in an AlgorithmIdentifier without parameters) and 2.5.4.3.
const ECDSA_WITH_SHA256 = der(SEQUENCE, Buffer.from('06082a8648ce3d040302', 'hex'))
const COMMON_NAME = Buffer.from('0603550403', 'hex')

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  const n = body.length
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff]
  return Buffer.concat([Buffer.from([tag, ...length]), body])
}

// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
function time(date: Date): Buffer {
  const digits = date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:T]/g, '')
  const year = date.getUTCFullYear()
  return year < 2050 ? der(UTC_TIME, Buffer.from(digits.slice(2))) : der(GENERALIZED_TIME, Buffer.from(digits))
}

// The certificate (and key) in a PEM that holds both, as HAProxy's `crt` file does.
export function certificateIn(pem: string): string | undefined {
  return /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/.exec(pem)?.[0]
}

// A kept load-balancer keeps its certificate (pem, read from it); a new one, or one made before the stats page had
// TLS, gets a new one (switch.ts puts it into a kept one before the reload that needs it).
export function statsCertificateFor(pem: string | undefined, commonName: string): StatsCertificate {
  const certificate = pem && certificateIn(pem)
  return pem && certificate ? { pem, certificate, inside: true } : newStatsCertificate(commonName)
}

// TLS options that accept the stats page's own certificate and no other: the chain must end at it
// (ca), and, its name aside (a load-balancer's address is known only once it runs), the server's
// certificate must be exactly it.
export function pinnedTo(certificate: string): Pick<ConnectionOptions, 'ca' | 'checkServerIdentity'> {
  const expected = new X509Certificate(certificate).fingerprint256
  return {
    ca: [certificate],
    checkServerIdentity: (host: string, served: PeerCertificate) =>
      served.fingerprint256 === expected
        ? undefined
        : new Error(`${host} served a certificate (SHA-256 ${served.fingerprint256}) other than the load-balancer's stats certificate (SHA-256 ${expected})`),
  }
}
