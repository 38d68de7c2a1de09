// basic-auth's cost: requests/s and p99 latency through the action's load-balancer with basic-auth
// off and on, at 100 connections (the issue's target: on >= 0.9x off). One deployment of 3
// instances; the list (10 users) is turned on and off by redeploys (graceful reloads), alternating,
// so that drift of the machine shows in both. Every request carries the same Authorization header
// either way, so only the check differs. autocannon aims at the load-balancer's container address.
//
//   npx tsx bench/protection.ts [--duration 10] [--rounds 2] [--connections 100] [--out bench/protection-results.md]
//
// Needs `npm run build` and the local test images. Everything it creates is named
// bench-protect-<random>… and removed at the end, on failure and on SIGINT/SIGTERM.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { basicAuthorization } from '../src/haproxy/basic-auth'
import { addressOn, deploy, machine, measure, networkOf, runBenchmark, table, waitForAnswer, type Row } from './load-run'

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '100' },
    out: { type: 'string', default: path.resolve(__dirname, 'protection-results.md') },
  },
})

const INSTANCES = 3
const ID = `bench-protect-${randomBytes(3).toString('hex')}`
const USERS = Array.from({ length: 10 }, (_, i) => ({ user: `user${i}`, password: randomBytes(18).toString('base64') }))
const OFF = 'basic-auth off'
const ON = 'basic-auth on (10 users)'

async function main(): Promise<void> {
  // The list goes in as a file (--basic-auth-file), never as an argument that `ps` shows.
  const dir = mkdtempSync(path.join(os.tmpdir(), `${ID}-`))
  const listFile = path.join(dir, 'basic-auth')
  writeFileSync(listFile, USERS.map((u) => `${u.user}:${u.password}`).join('\n'), { mode: 0o600 })
  try {
    const { lbPort } = await deploy(ID, INSTANCES)
    const headers = { authorization: basicAuthorization(USERS[USERS.length - 1]!) }
    const url = `http://${addressOn(`${ID}-lb`, networkOf(ID))}:8080/`
    const connections = Number(flags.connections)
    const rows: Row[] = []
    for (let round = 1; round <= Number(flags.rounds); round++)
      for (const name of [OFF, ON]) {
        await deploy(ID, INSTANCES, { lbPort, extra: name === ON ? ['--basic-auth-file', listFile] : [] })
        await waitForAnswer(url, headers)
        rows.push(await measure({ name: `${name}, round ${round}`, urls: [url], headers }, connections, Number(flags.duration)))
      }
    const mean = (name: string) => {
      const runs = rows.filter((r) => r.target.startsWith(`${name},`))
      return runs.reduce((sum, r) => sum + r.rps, 0) / runs.length
    }
    const ratio = mean(ON) / mean(OFF)
    const report = [
      "## basic-auth: the action's load-balancer with the check off and on",
      '',
      machine(),
      '',
      `${INSTANCES} instances of vic-lb-test/web:1 behind vic-lb-test/haproxy:2.6, its container address; ${flags.duration} s per run; autocannon with keep-alive connections, every request with the same valid Authorization header. \`bench/protection.ts\`.`,
      '',
      table(rows),
      '',
      `- on / off at ${connections} connections, mean of ${flags.rounds} rounds: ${Math.round(mean(ON))} / ${Math.round(mean(OFF))} req/s = ${ratio.toFixed(2)}x (target >= 0.9x): ${ratio >= 0.9 ? 'met' : 'MISSED'}`,
      '',
    ].join('\n')
    console.log(report)
    writeFileSync(flags.out, report)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

runBenchmark(ID, main)
