import * as http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { connectEngine } from '../src/docker/engine'
import { resolveTarget } from '../src/docker/target'

// A stand-in Engine on 127.0.0.1 that can "restart": stop listening, drop every connection, and
// come back on the same port, as dockerd does under `systemctl restart docker`.

interface FakeEngine {
  port: number
  stop: () => Promise<void>
  start: () => Promise<void>
}

const running: FakeEngine[] = []
afterEach(async () => {
  for (const engine of running.splice(0)) await engine.stop()
})

async function fakeEngine(): Promise<FakeEngine> {
  let server: http.Server | undefined
  const sockets = new Set<Socket>()
  const answer = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    const path = request.url?.replace(/^\/v[\d.]+/, '').replace(/\?.*$/, '')
    if (path === '/events') return void response.writeHead(200, { 'content-type': 'application/json' }).flushHeaders()
    const bodies: Record<string, unknown> = {
      '/version': { ApiVersion: '1.41', Version: 'fake' },
      '/info': { ID: 'fake', Driver: 'overlay2' },
      '/containers/json': [],
    }
    if (!(path! in bodies)) return void response.writeHead(404).end('{"message":"no such route"}')
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(bodies[path!]))
  }
  const engine: FakeEngine = {
    port: 0,
    start: () =>
      new Promise((resolve) => {
        server = http.createServer(answer)
        server.on('connection', (socket) => {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
        })
        server.listen(engine.port, '127.0.0.1', () => {
          engine.port = (server!.address() as AddressInfo).port
          resolve()
        })
      }),
    stop: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        if (!server?.listening) return resolve()
        server.close(() => resolve())
      }),
  }
  await engine.start()
  running.push(engine)
  return engine
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('a Docker daemon that restarts between two API calls', () => {
  it('fails the next call, naming the host, and lets the calls after it through', async () => {
    const fake = await fakeEngine()
    const address = `tcp://127.0.0.1:${fake.port}`
    const engine = await connectEngine(resolveTarget(address, { verify: true }, {}))
    await expect(engine.docker.listContainers()).resolves.toEqual([])

    await fake.stop()
    await sleep(500) // the event stream ended and the daemon refused a new one
    await fake.start()

    await expect(engine.docker.listContainers()).rejects.toThrow(
      `Lost the connection to the Docker host ${address} (ECONNREFUSED; the daemon stopped or restarted during this run, and this run's containers with it). Check that the Docker daemon`,
    )
    await expect(engine.docker.listContainers()).resolves.toEqual([])
  })

  it('a call while the daemon is down names the host too', async () => {
    const fake = await fakeEngine()
    const address = `tcp://127.0.0.1:${fake.port}`
    const engine = await connectEngine(resolveTarget(address, { verify: true }, {}))
    await fake.stop()
    await expect(engine.docker.listContainers()).rejects.toThrow(
      new RegExp(`^Lost the connection to the Docker host ${address} \\((ECONNREFUSED|ECONNRESET)\\)`),
    )
  })

  it('an HTTP error of the Engine passes unchanged, with its status code', async () => {
    const fake = await fakeEngine()
    const engine = await connectEngine(resolveTarget(`tcp://127.0.0.1:${fake.port}`, { verify: true }, {}))
    await expect(engine.docker.getContainer('x').inspect()).rejects.toMatchObject({ statusCode: 404 })
  })
})

describe('after a reported loss', () => {
  it('calls the daemon refuses wait for it to come back, so that the clean-up reaches it', async () => {
    const fake = await fakeEngine()
    const address = `tcp://127.0.0.1:${fake.port}`
    const engine = await connectEngine(resolveTarget(address, { verify: true }, {}))
    await fake.stop()
    await sleep(500)
    await expect(engine.docker.listContainers()).rejects.toThrow('Lost the connection')
    const cleanUp = engine.docker.listContainers()
    await sleep(1200)
    await fake.start()
    await expect(cleanUp).resolves.toEqual([])
  })
})
