import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { getStatsPage } from '../../test-support/stats-page'
import { docker, explain, lbConfig, localInputs, removeDeployment, runAction, statsAuthorization, statsCertificate, uniquePrefix } from './harness'

// The load-balancer's stats page lists every instance's name, address and state, and is reachable
// wherever the load-balancer is (a published host port, or its address on a routable network). It
// answers only over TLS, with a certificate made for this load-balancer, and only with the
// credentials generated for it; both live nowhere but inside the load-balancer: not in the log,
// the job summary or any label. A redeploy reads them back from there.
// Traffic goes only to 127.0.0.1 (the published load-balancer) and to a bridge this test creates.

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

const NONSENSE = { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }

// What a plain-HTTP client gets from the stats port: HAProxy's TLS listener answers no HTTP.
function plainHttp(url: string, authorization: string): Promise<string> {
  return new Promise((resolve) => {
    http
      .get(url.replace(/^https:/, 'http:'), { headers: { authorization }, agent: false, signal: AbortSignal.timeout(5000) }, (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () => resolve(`HTTP ${response.statusCode}: ${text}`))
        response.on('error', (error) => resolve(`error: ${error.message}`))
      })
      .on('error', (error) => resolve(`error: ${(error as NodeJS.ErrnoException).code ?? error.message}`))
  })
}

// Refused without the credentials (401 over TLS, trusting only the load-balancer's certificate),
// answered with them, and no stats page at all in plain HTTP.
async function expectTlsOnly(statsUrl: string, prefix: string): Promise<void> {
  const certificate = statsCertificate(prefix)
  const authorization = statsAuthorization(prefix)
  expect((await getStatsPage(`${statsUrl};csv`, certificate)).status).toBe(401)
  expect((await getStatsPage(`${statsUrl};csv`, certificate, NONSENSE)).status).toBe(401)
  const page = await getStatsPage(`${statsUrl};csv`, certificate, { authorization })
  expect(page.status).toBe(200)
  expect(page.text).toMatch(/^# pxname,svname,/)
  const plain = await plainHttp(`${statsUrl};csv`, authorization)
  expect(plain).not.toMatch(/pxname|^HTTP 200/)
}

describe('the stats page', () => {
  const prefix = uniquePrefix('stats')
  created.push(prefix)
  let inputs: Record<string, string>
  let statsUrl: string

  it('on the published port: refuses a request without the credentials, answers with them, over TLS only', async () => {
    inputs = await localInputs(prefix)
    const run = await runAction(inputs)
    expect(run.code, explain(run)).toBe(0)
    const port = docker('inspect', '-f', '{{(index (index .NetworkSettings.Ports "8404/tcp") 0).HostPort}}', `${prefix}-lb`)
    statsUrl = `https://127.0.0.1:${port}/stats`
    await expectTlsOnly(statsUrl, prefix)

    const password = /^\s*stats auth [^:]+:(\S+)$/m.exec(lbConfig(prefix))![1]
    expect(password).toMatch(/^[0-9a-f]{48}$/)
    // Masked for the log, shown nowhere.
    expect(run.stdout).toContain(`::add-mask::${password}`)
    expect(run.stdout.replace(`::add-mask::${password}`, '')).not.toContain(password)
    expect(run.stderr).not.toContain(password)
    expect(run.summary).not.toContain(password)
    expect(run.summary).toContain('stats auth vic-lb:(generated, kept only in the load-balancer)')
    expect(docker('inspect', '-f', '{{json .Config.Labels}} {{json .Config.Env}}', `${prefix}-lb`)).not.toContain(password)
  })

  it('keeps its credentials and certificate when a redeploy keeps the load-balancer, and readiness reads them back', async () => {
    const before = lbConfig(prefix)
    const certificate = statsCertificate(prefix)
    const run = await runAction({ ...inputs, instances: '2' })
    expect(run.code, explain(run)).toBe(0)
    const after = lbConfig(prefix)
    expect(after).not.toBe(before)
    const authOf = (config: string) => /^\s*stats auth (\S+)$/m.exec(config)?.[1]
    expect(authOf(after)).toBe(authOf(before))
    expect(statsCertificate(prefix)).toBe(certificate)
    await expectTlsOnly(statsUrl, prefix)
  })
})

// On a routable network (a VCH's container network; here a user-defined bridge this machine
// reaches) the readiness polls cross the network: captured there during a deploy, they show TLS
// on the stats port and never the credentials.
describe('the stats page on a routable network', () => {
  const prefix = uniquePrefix('statsnet')
  const network = `${prefix}-routable`
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stats-capture-'))
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
    removeDeployment(prefix)
    docker('network', 'rm', network)
  })

  it('carries the readiness polls in TLS only, and refuses a request without the credentials', async () => {
    docker('network', 'create', network)
    // That network's traffic only: other tests on this host may poll load-balancers of other versions.
    const subnet = docker('network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', network)
    const pcap = path.join(dir, 'deploy.pcap')
    // Each packet handed over and written at once (no capture buffer), so stopping loses none.
    const capture = spawn('tcpdump', ['-i', 'any', '-n', '--immediate-mode', '-U', '-w', pcap, `tcp and net ${subnet}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    const exited = new Promise<number | null>((resolve) => capture.on('exit', resolve))
    let captureLog = ''
    await new Promise<void>((resolve, reject) => {
      capture.stderr.on('data', (chunk: Buffer) => {
        captureLog += chunk.toString()
        if (captureLog.includes('listening on')) resolve()
      })
      capture.on('error', reject)
      void exited.then(() => reject(new Error(`tcpdump exited: ${captureLog}`)))
    })
    let run
    try {
      run = await runAction(await localInputs(prefix, { 'external-network': network, 'lb-port': '8080' }))
    } finally {
      capture.kill('SIGINT')
      await exited
    }
    expect(run.code, explain(run)).toBe(0)
    const lbAddress = docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, `${prefix}-lb`)
    const tcpdump = (...args: string[]) =>
      new Promise<string>((resolve, reject) => {
        const reader = spawn('tcpdump', ['-n', '-r', pcap, ...args], { stdio: ['ignore', 'pipe', 'ignore'] })
        let out = ''
        reader.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('latin1')))
        reader.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`tcpdump -r ${pcap} exited with ${code}`))))
      })
    // The capture saw the polls: TLS handshakes (a record of type 22 opening a segment) to the
    // load-balancer's stats port on that network.
    const handshakes = await tcpdump(`dst host ${lbAddress} and tcp dst port 8404 and tcp[((tcp[12:1] & 0xf0) >> 2):1] = 0x16`)
    expect(handshakes.split('\n').filter(Boolean).length).toBeGreaterThan(0)
    // ...and no credentials in clear, anywhere in it.
    const everything = await tcpdump('-A')
    expect(everything.length).toBeGreaterThan(0)
    expect(everything).not.toMatch(/Authorization: Basic/i)
    expect(everything).not.toContain(statsAuthorization(prefix).slice('Basic '.length))

    await expectTlsOnly(`https://${lbAddress}:8404/stats`, prefix)
  })
})
