import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
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
  fs.writeFileSync(statsCertificateFile, statsCertificate.pem, { mode: 0o600 })
  return { statsCertificate, statsCertificateFile }
}

// A self-signed client certificate that was valid from 2020-01-01 to 2020-01-02 only, made by
// openssl in a temporary directory (`openssl ca` is what sets both dates), which is then removed.
export function expiredCertificatePem(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-expired-'))
  try {
    const config =
      '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n'
    fs.writeFileSync(path.join(dir, 'ca.cnf'), config)
    fs.writeFileSync(path.join(dir, 'index.txt'), '')
    fs.writeFileSync(path.join(dir, 'serial'), '01\n')
    const openssl = (args: string): void => void execFileSync('openssl', args.split(' '), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    openssl('req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -subj /CN=expired-client -out req.pem')
    openssl('ca -batch -config ca.cnf -selfsign -keyfile key.pem -in req.pem -startdate 20200101000000Z -enddate 20200102000000Z -notext -out cert.pem')
    return fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
