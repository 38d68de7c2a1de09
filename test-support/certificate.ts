import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import type { LbConfig } from '../src/haproxy/config'
import { newStatsCertificate } from '../src/haproxy/stats-certificate'

// A fresh self-signed certificate and its key in one PEM, as lb-certificate takes it. openssl
// writes both to stdout: no key file is left on disk.
// With `altNames` such as 'IP:127.0.0.1' a client that trusts it (ca) can verify it in full.
export function selfSignedPem(commonName = 'preview.example.test', keyType: 'ec' | 'rsa' = 'ec', altNames?: string): string {
  const key = keyType === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048']
  const san = altNames ? ['-addext', `subjectAltName=${altNames}`] : []
  return execFileSync('openssl', ['req', '-x509', ...key, '-nodes', '-keyout', '-', '-out', '-', '-subj', `/CN=${commonName}`, ...san, '-days', '2'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

// The stats page's certificate as the action makes it, written where `haproxy -c` can load it
// (in the load-balancer it is STATS_CERTIFICATE_PATH).
export function statsCertificateIn(dir: string): Pick<LbConfig, 'statsCertificate' | 'statsCertificateFile'> {
  const statsCertificate = newStatsCertificate('vic-lb stats test')
  const statsCertificateFile = path.join(dir, 'stats.pem')
  writeFileSync(statsCertificateFile, statsCertificate.pem, { mode: 0o600 })
  return { statsCertificate, statsCertificateFile }
}
