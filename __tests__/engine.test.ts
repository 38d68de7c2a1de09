import * as fs from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import { inspect } from 'node:util'
import { afterEach, expect, it } from 'vitest'
import { connectEngine } from '../src/docker/engine'
import { resolveTarget } from '../src/docker/target'

// docker-modem runs util.inspect (showHidden, unlimited depth) over every request's options, the
// client's agent among them, DEBUG or not: the agent must not drag its sockets into that.

let server: http.Server | undefined
let dir: string | undefined
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

it("the Docker client's agent formats in a few characters, however many requests it has served", async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-engine-'))
  const socketPath = path.join(dir, 'docker.sock')
  server = http.createServer((request, response) => {
    const route = request.url?.replace(/^\/v[\d.]+/, '').replace(/\?.*$/, '')
    const bodies: Record<string, unknown> = { '/version': { ApiVersion: '1.41', Version: 'fake' }, '/info': { ID: 'fake' }, '/containers/json': [] }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(bodies[route!] ?? {}))
  })
  await new Promise<void>((resolve) => server!.listen(socketPath, resolve))
  const { docker } = await connectEngine(resolveTarget(`unix://${socketPath}`, { verify: true }, {}))
  await Promise.all(Array.from({ length: 8 }, () => docker.listContainers()))
  const { agent } = docker.modem as unknown as { agent: http.Agent }
  expect(inspect(agent, { showHidden: true, depth: null })).toBe('[Agent]')
})

// A fake Engine on a unix socket: `answer` gives each request's status and body, or leaves it hanging.
async function fakeEngine(answer: (route: string, url: string) => [number, unknown] | undefined): Promise<string> {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-engine-'))
  const socketPath = path.join(dir, 'docker.sock')
  server = http.createServer((request, response) => {
    const route = request.url!.replace(/^\/v[\d.]+/, '').replace(/\?.*$/, '')
    const answered = answer(route, request.url!)
    if (answered) response.writeHead(answered[0], { 'content-type': 'application/json' }).end(JSON.stringify(answered[1]))
  })
  await new Promise<void>((resolve) => server!.listen(socketPath, resolve))
  return socketPath
}

it('asks /info alongside /version, and again at the negotiated version when that first answer failed', async () => {
  const infos: string[] = []
  const socketPath = await fakeEngine((route, url) => {
    if (route === '/version') return [200, { ApiVersion: '1.41', Version: '4.3.1', Components: [{ Name: 'Podman Engine' }] }]
    if (route === '/info') return infos.push(url) === 1 ? [500, { message: 'busy' }] : [200, { ID: 'fake' }]
    if (route === '/events') return undefined
    return [200, {}]
  })
  const engine = await connectEngine(resolveTarget(`unix://${socketPath}`, { verify: true }, {}))
  expect(infos).toEqual(['/info', '/v1.41/info'])
  expect(engine.host.kind).toBe('podman')
  server!.closeAllConnections()
})

it('says the daemon is stuck when it answers /version but never /info', async () => {
  const socketPath = await fakeEngine((route) => (route === '/version' ? [200, { ApiVersion: '1.41', Version: '20.10.24' }] : undefined))
  const started = Date.now()
  await expect(connectEngine(resolveTarget(`unix://${socketPath}`, { verify: true }, {}))).rejects.toThrow(
    /answered GET \/version but not GET \/info within 10 s/,
  )
  // Once, not once per attempt.
  expect(Date.now() - started).toBeLessThan(15_000)
  server!.closeAllConnections()
}, 20_000)
