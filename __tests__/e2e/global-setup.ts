import * as fs from 'node:fs'
import * as path from 'node:path'
import { ENGINE, docker } from '../../test-support/host'

// The end-to-end suite is never skipped: without the engine under test (VIC_LB_E2E_*), the test
// images on it or the bundle it fails here, saying what to run.
export default function setup(): void {
  const root = path.resolve(__dirname, '../..')
  const fail = (what: string, fix: string): never => {
    throw new Error(`End-to-end tests need ${what}. ${fix}`)
  }
  let components = ''
  try {
    components = docker('version', '--format', '{{range .Server.Components}}{{.Name}};{{end}}')
  } catch (error) {
    fail(`a running ${ENGINE.kind} engine at ${ENGINE.dockerHost} (${(error as Error).message.trim()})`, 'Run: bash scripts/setup.sh')
  }
  // A suite meant for Podman that reached dockerd (or the reverse) would prove nothing about it.
  const isPodman = components.split(';').includes('Podman Engine')
  if (isPodman !== (ENGINE.kind === 'podman'))
    fail(
      `${ENGINE.kind} at ${ENGINE.dockerHost}`,
      `It answers as ${isPodman ? 'Podman' : 'Docker Engine'}: check VIC_LB_E2E_ENGINE and VIC_LB_E2E_DOCKER_HOST.`,
    )
  const images = ['vic-lb-test/web:1', 'vic-lb-test/web:2', 'vic-lb-test/crash:1', 'vic-lb-test/silent:1', 'vic-lb-test/traffic:1', ENGINE.haproxyImage]
  for (const image of images) {
    try {
      docker('image', 'inspect', image)
    } catch {
      fail(`the test image ${image} on ${ENGINE.dockerHost}`, 'Run: bash scripts/build-test-images.sh')
    }
  }
  if (!fs.existsSync(path.join(root, 'dist/index.js'))) fail('the bundle dist/index.js', 'Run: npm run build')
}
