import { execFileSync } from 'node:child_process'

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
