// Runs the VCH stand-in until SIGINT/SIGTERM and prints its URL (for DOCKER_HOST):
//   npx tsx test-support/vch-proxy-cli.ts --mode vch --port 23750 --start-delay-ms 3000 \
//     [--refuse-pull private/app:1 ...] [--container-network routable ...] [--upstream-socket PATH] [--verbose]
import { parseArgs } from 'node:util'
import { startVchProxy } from './vch-proxy'

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'vch' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'start-delay-ms': { type: 'string', default: '3000' },
    'refuse-pull': { type: 'string', multiple: true, default: [] },
    'container-network': { type: 'string', multiple: true },
    'upstream-socket': { type: 'string', default: '/var/run/docker.sock' },
    verbose: { type: 'boolean', default: false },
  },
})

async function main() {
  const mode = values.mode
  if (mode !== 'vch' && mode !== 'engine29') throw new Error(`--mode must be vch or engine29, not ${mode}`)
  const proxy = await startVchProxy({
    mode,
    host: values.host,
    port: Number(values.port),
    startDelayMs: Number(values['start-delay-ms']),
    refusePullImages: values['refuse-pull'],
    containerNetworks: values['container-network'],
    upstreamSocket: values['upstream-socket'],
    log: values.verbose ? (line) => console.error(line) : undefined,
  })
  console.log(proxy.url)

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void proxy.close().then(() => process.exit(0))
    })
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
