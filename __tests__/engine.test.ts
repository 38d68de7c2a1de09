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
