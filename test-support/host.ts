import { execFileSync } from 'node:child_process'
import * as net from 'node:net'

// Small helpers on this machine shared by the end-to-end tests and the benchmarks.

// A docker CLI call on the local engine (set-up, inspection, clean-up), bounded in time.
export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 }).trim()
}

// The same, for clean-up that must go on when something is already gone.
export function tryDocker(...args: string[]): string {
  try {
    return docker(...args)
  } catch {
    return ''
  }
}

// A loopback port nothing listens on right now.
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}
