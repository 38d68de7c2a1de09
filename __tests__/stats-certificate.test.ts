import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import type { PeerCertificate } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { newStatsCertificate, pinnedTo, statsCertificateFor } from '../src/haproxy/stats-certificate'

describe('newStatsCertificate', () => {
  const made = newStatsCertificate('vic-lb stats web-lb')
  const certificate = new X509Certificate(made.certificate)

  it('makes a self-signed ECDSA P-256 certificate that OpenSSL reads, valid from a day back to 9999', () => {
    expect(certificate.subject).toBe('CN=vic-lb stats web-lb')
    expect(certificate.issuer).toBe(certificate.subject)
    expect(certificate.verify(certificate.publicKey)).toBe(true)
    expect(certificate.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' })
    expect(Date.parse(certificate.validFrom)).toBeLessThan(Date.now() - 23 * 3600_000)
    expect(new Date(certificate.validTo).getUTCFullYear()).toBe(9999)
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: made.certificate, encoding: 'utf8' })
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256')
  })

  it("holds the certificate and its key in one PEM, as HAProxy's crt takes them, the certificate alone apart", () => {
    expect(made.pem.startsWith(made.certificate)).toBe(true)
    const key = createPrivateKey(made.pem)
    expect(createPublicKey(key).export({ type: 'spki', format: 'der' })).toEqual(certificate.publicKey.export({ type: 'spki', format: 'der' }))
    expect(made.certificate).not.toContain('PRIVATE KEY')
    expect(made.inside).toBe(false)
  })

  // A blank line in the PEM (base64 of a length that fills its last line) made HAProxy 3.0 miss the key.
  it('writes the PEM without a blank line, whatever the length of the name', () => {
    for (let length = 1; length <= 80; length++) {
      const { pem } = newStatsCertificate('x'.repeat(length))
      expect(pem, `name of ${length}`).not.toMatch(/\n\n/)
      expect(pem.split('\n').every((line) => line.length <= 64)).toBe(true)
    }
  })

  it('makes a new key and serial number each time', () => {
    const other = newStatsCertificate('vic-lb stats web-lb')
    expect(other.pem).not.toBe(made.pem)
    expect(new X509Certificate(other.certificate).serialNumber).not.toBe(certificate.serialNumber)
  })
})

describe('statsCertificateFor', () => {
  it('keeps a kept load-balancer’s certificate, and makes one for a new load-balancer or one that has none', () => {
    const made = newStatsCertificate('vic-lb stats web-lb')
    expect(statsCertificateFor(made.pem, 'x')).toEqual({ ...made, inside: true })
    for (const pem of ['not a certificate', undefined]) {
      const fresh = statsCertificateFor(pem, 'vic-lb stats web-lb')
      expect(fresh.inside).toBe(false)
      expect(fresh.pem).not.toBe(made.pem)
    }
  })
})

describe('pinnedTo', () => {
  it('trusts the certificate alone and refuses any other the server presents, whatever its name', () => {
    const { certificate } = newStatsCertificate('vic-lb stats web-lb')
    const pinned = pinnedTo(certificate)
    expect(pinned.ca).toEqual([certificate])
    const fingerprint256 = new X509Certificate(certificate).fingerprint256
    expect(pinned.checkServerIdentity!('10.0.0.5', { fingerprint256 } as PeerCertificate)).toBeUndefined()
    const other = new X509Certificate(newStatsCertificate('vic-lb stats web-lb').certificate).fingerprint256
    expect(pinned.checkServerIdentity!('10.0.0.5', { fingerprint256: other } as PeerCertificate)?.message).toBe(
      `10.0.0.5 served a certificate (SHA-256 ${other}) other than the load-balancer's stats certificate (SHA-256 ${fingerprint256})`,
    )
  })
})
