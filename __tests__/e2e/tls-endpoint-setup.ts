import * as fs from 'node:fs'
import * as path from 'node:path'
import type { TestProject } from 'vitest/node'
import { startDockerTlsProxy } from '../../test-support/docker-tls-proxy'
import { ENGINE } from '../../test-support/host'

// The TLS endpoint of the engine under test (VIC_LB_E2E_DOCKER_HOST; test-support/docker-tls-proxy.ts)
// for the tests of `docker-host: tcp://...` with client certificates: started for the run, on a
// free loopback port the tests read with inject('dockerTlsPort'), and stopped when the run ends.

declare module 'vitest' {
  export interface ProvidedContext {
    dockerTlsPort: number
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const tlsDir = process.env.VIC_LB_TLS_DIR ?? '/tmp/vic-lb-tls'
  for (const file of ['ca.pem', 'server-cert.pem', 'server-key.pem', 'cert.pem', 'key.pem', 'other-ca/cert.pem', 'expired/cert.pem'])
    if (!fs.existsSync(path.join(tlsDir, file)))
      throw new Error(`End-to-end tests need the test certificates (${path.join(tlsDir, file)} is missing). Run: bash scripts/make-test-certs.sh`)
  const engine = ENGINE.dockerHost
  if (!engine.startsWith('unix://')) throw new Error(`VIC_LB_E2E_DOCKER_HOST must be a unix:// socket for the TLS endpoint, not ${engine}`)
  const proxy = await startDockerTlsProxy({ socketPath: engine.slice('unix://'.length), tlsDir })
  project.provide('dockerTlsPort', proxy.port)
  return () => proxy.close()
}
