import { execFileSync } from 'node:child_process'

// A fresh self-signed certificate and its key in one PEM, as lb-certificate takes it. openssl
// writes both to stdout: no key file is left on disk.
export function selfSignedPem(commonName = 'preview.example.test', keyType: 'ec' | 'rsa' = 'ec'): string {
  const key = keyType === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048']
  return execFileSync('openssl', ['req', '-x509', ...key, '-nodes', '-keyout', '-', '-out', '-', '-subj', `/CN=${commonName}`, '-days', '2'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}
