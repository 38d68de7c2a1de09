import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

// The end-to-end suite is never skipped: without a Docker engine, the test images or the bundle it
// fails here, saying what to run.
export default function setup(): void {
  const root = path.resolve(__dirname, '../..')
  const fail = (what: string, fix: string): never => {
    throw new Error(`End-to-end tests need ${what}. ${fix}`)
  }
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe' })
  } catch {
    fail('a running Docker engine', 'Run: bash scripts/setup.sh')
  }
  const images = ['vic-lb-test/web:1', 'vic-lb-test/web:2', 'vic-lb-test/crash:1', 'vic-lb-test/silent:1', 'vic-lb-test/haproxy:2.6']
  for (const image of images) {
    try {
      execFileSync('docker', ['image', 'inspect', image], { stdio: 'pipe' })
    } catch {
      fail(`the test image ${image}`, 'Run: bash scripts/build-test-images.sh')
    }
  }
  if (!fs.existsSync(path.join(root, 'dist/index.js'))) fail('the bundle dist/index.js', 'Run: npm run build')
}
