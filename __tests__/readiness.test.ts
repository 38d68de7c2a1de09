import { X509Certificate } from 'node:crypto'
import * as http from 'node:http'
import * as https from 'node:https'
import * as net from 'node:net'
import * as tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { actionsLog, useLog, type Log } from '../src/log'
import { waitUntilListening, waitUntilServing, type Endpoints } from '../src/readiness'
import { CONFIG_ID_HEADER } from '../src/haproxy/config'
import { NOT_ROUTED_HEADER } from '../src/ingress/config'
import { newStatsCertificate } from '../src/haproxy/stats-certificate'
import { selfSignedPem } from '../test-support/certificate'

// The readiness wait against a stand-in for HAProxy on loopback: its stats CSV (the columns the
// parser reads) and a service that answers 200 unless a test gives it another answer.

type Row = [server: string, status: string, check: string]

const STATS_AUTHORIZATION = 'Basic c3RhdHM6c2VjcmV0'

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void

// The load-balancer's stats certificate, which the readiness client is to trust alone.
const STATS_CERTIFICATE = newStatsCertificate('vic-lb stats test')

// The stats page over TLS with `served` (the load-balancer's certificate unless a test says
// otherwise) and the id of the configuration it serves under, the service in plain HTTP.
async function standIn(
  rowsAt: () => Row[],
  service: Handler = (_, response) => response.end('hello'),
  served = STATS_CERTIFICATE,
  configIdAt = () => 'config-1',
): Promise<{ endpoints: Endpoints; close: () => Promise<void> }> {
  const stats = https.createServer({ key: served.pem, cert: served.certificate }, (request, response) => {
    if (request.url === '/stats;csv' && request.headers.authorization === STATS_AUTHORIZATION) {
      response.setHeader(CONFIG_ID_HEADER, configIdAt())
      response.end(['# pxname,svname,status,check_status', ...rowsAt().map((row) => `instances,${row.join(',')}`), 'instances,BACKEND,UP,'].join('\n'))
    } else response.writeHead(401).end()
  })
  const server = http.createServer(service)
  await Promise.all([stats, server].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))))
  return {
    endpoints: {
      statsUrl: `https://127.0.0.1:${(stats.address() as AddressInfo).port}/stats`,
      statsAuthorization: STATS_AUTHORIZATION,
      statsCertificate: STATS_CERTIFICATE.certificate,
      serviceHost: '127.0.0.1',
      servicePort: (server.address() as AddressInfo).port,
      protocol: 'http',
    },
    close: async () => {
      for (const s of [stats, server]) {
        s.closeAllConnections()
        await new Promise((resolve) => s.close(resolve))
      }
    },
  }
}

function progressLog(): { lines: string[] } {
  const lines: string[] = []
  useLog({ ...actionsLog, progress: (message) => lines.push(message) } satisfies Log)
  return { lines }
}

afterEach(() => useLog(actionsLog))

describe('waitUntilServing reports its progress', () => {
  it('names the instances that are not healthy yet, with their state, while the wait lasts', async () => {
    const started = Date.now()
    const { lines } = progressLog()
    const { endpoints, close } = await standIn(() =>
      Date.now() - started < 2_000
        ? [
            ['web-1', 'UP', 'L4OK'],
            ['web-2', 'DOWN', 'L4CON'],
            ['web-3', 'UP', 'INI'],
          ]
        : [
            ['web-1', 'UP', 'L4OK'],
            ['web-2', 'UP', 'L4OK'],
            ['web-3', 'UP', 'L4OK'],
          ],
    )
    try {
      await waitUntilServing(endpoints, {
        backend: 'instances',
        servers: ['web-1', 'web-2', 'web-3'],
        throughService: true,
        deadline: Date.now() + 10_000,
        progressEveryMs: 300,
      })
    } finally {
      await close()
    }
    // Every 300 ms for about 2 s: at most one report per interval, none once the wait is over.
    expect(lines.length).toBeGreaterThanOrEqual(2)
    expect(lines.length).toBeLessThanOrEqual(7)
    for (const line of lines) expect(line).toBe('1 of 3 instances healthy; waiting for web-2: DOWN (last check: L4CON), web-3: UP (last check: INI)')
  })

  it('counts the instances beyond the first five instead of naming them all', async () => {
    const servers = Array.from({ length: 8 }, (_, i) => `web-${i + 1}`)
    const { lines } = progressLog()
    const { endpoints, close } = await standIn(() => [])
    try {
      const wait = waitUntilServing(endpoints, { backend: 'instances', servers, throughService: true, deadline: Date.now() + 1_500, progressEveryMs: 300 })
      await expect(wait).rejects.toThrow('Timed out waiting for the deployment to become ready: 8 of 8 instances not healthy yet.')
    } finally {
      await close()
    }
    expect(lines[0]).toBe(
      '0 of 8 instances healthy; waiting for web-1: not in the load-balancer yet, web-2: not in the load-balancer yet, web-3: not in the load-balancer yet, web-4: not in the load-balancer yet, web-5: not in the load-balancer yet and 3 more',
    )
  })

  it('says what else it waits for when the instances are not the problem', async () => {
    const { lines } = progressLog()
    const wait = waitUntilServing(
      {
        statsUrl: 'https://127.0.0.1:9/stats',
        statsAuthorization: STATS_AUTHORIZATION,
        statsCertificate: STATS_CERTIFICATE.certificate,
        serviceHost: '127.0.0.1',
        servicePort: 9,
        protocol: 'http',
      },
      { backend: 'instances', servers: ['web-1'], throughService: true, deadline: Date.now() + 1_500, progressEveryMs: 300 },
    )
    await expect(wait).rejects.toThrow(/stats page does not answer/)
    expect(lines[0]).toMatch(/^Waiting: the load-balancer's stats page does not answer \(/)
  })

  it('waits for the configuration it loaded: answers of the previous one, however healthy, do not count', async () => {
    const started = Date.now()
    const { endpoints, close } = await standIn(
      () => [['web-1', 'UP', 'L7OK']],
      undefined,
      undefined,
      () => (Date.now() - started < 1_000 ? 'before-reload' : 'after-reload'),
    )
    try {
      const expectation = { backend: 'instances', servers: ['web-1'], throughService: true }
      await expect(waitUntilServing(endpoints, { ...expectation, configId: 'after-reload', deadline: Date.now() + 500 })).rejects.toThrow(
        'Timed out waiting for the deployment to become ready: the load-balancer has not loaded its new configuration.',
      )
      await waitUntilServing(endpoints, { ...expectation, configId: 'after-reload', deadline: Date.now() + 5_000 })
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000)
    } finally {
      await close()
    }
  })

  it('says nothing during a short wait', async () => {
    const { lines } = progressLog()
    const { endpoints, close } = await standIn(() => [['web-1', 'UP', 'L7OK']])
    try {
      await waitUntilServing(endpoints, { backend: 'instances', servers: ['web-1'], throughService: true, deadline: Date.now() + 5_000 })
    } finally {
      await close()
    }
    expect(lines).toEqual([])
  })
})

describe('waitUntilServing asks the service itself', () => {
  const healthy = (): Row[] => [['web-1', 'UP', 'L7OK']]
  const expectation = (ms: number) => ({ backend: 'instances', servers: ['web-1'], throughService: true, deadline: Date.now() + ms })
  const never: Handler = () => {}

  it('counts a redirect as an answer, without following it', async () => {
    const { endpoints, close } = await standIn(healthy, (_, response) => response.writeHead(302, { location: 'http://127.0.0.1:9/' }).end())
    try {
      await expect(waitUntilServing(endpoints, expectation(3_000))).resolves.toHaveLength(1)
    } finally {
      await close()
    }
  })

  it("does not count HAProxy's 503 (nothing healthy to send to) as an answer", async () => {
    const { endpoints, close } = await standIn(healthy, (_, response) => response.writeHead(503).end())
    try {
      await expect(waitUntilServing(endpoints, expectation(1_000))).rejects.toThrow(`the service port ${endpoints.servicePort} does not answer.`)
    } finally {
      await close()
    }
  })

  it("on a shared ingress asks for the deployment's host name, and does not count the ingress's answer for no route", async () => {
    const hosts: (string | undefined)[] = []
    let routed = false
    const { endpoints, close } = await standIn(healthy, (request, response) => {
      hosts.push(request.headers.host)
      if (routed) response.writeHead(404).end('the application has no /')
      else response.writeHead(404, { [NOT_ROUTED_HEADER]: '1' }).end()
    })
    try {
      const ingress = { ...endpoints, serviceName: 'pr-7.preview.example.test' }
      await expect(waitUntilServing(ingress, expectation(1_000))).rejects.toThrow(`the service port ${endpoints.servicePort} does not answer.`)
      routed = true
      await expect(waitUntilServing(ingress, expectation(3_000))).resolves.toHaveLength(1)
      expect(new Set(hosts)).toEqual(new Set(['pr-7.preview.example.test']))
    } finally {
      await close()
    }
  })

  it('waits for no answer from the service for candidates, which get no traffic: the generation serving may be broken', async () => {
    const { endpoints, close } = await standIn(
      () => [['web-1', 'UP', 'L7OK']],
      (_, response) => response.writeHead(503).end(),
    )
    try {
      await expect(waitUntilServing(endpoints, { ...expectation(1_000), throughService: false })).resolves.toHaveLength(1)
    } finally {
      await close()
    }
  })

  it('gives up on a request after 2 s: a service or stats page that never answers does not hold the wait past its deadline', async () => {
    for (const [rows, service, problem] of [
      [healthy, never, 'the service port'],
      [() => [], undefined, 'no answer within 2 s'],
    ] as const) {
      const { endpoints, close } = await standIn(rows, service)
      if (!service) endpoints.statsUrl = `https://127.0.0.1:${await silentPort()}/stats`
      const started = Date.now()
      try {
        await expect(waitUntilServing(endpoints, expectation(500))).rejects.toThrow(problem)
        expect(Date.now() - started).toBeLessThan(3_500)
      } finally {
        await close()
      }
    }
  })

  it('stops a request that hangs as soon as the run is cancelled', async () => {
    const { endpoints, close } = await standIn(healthy, never)
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('cancelled')), 300)
    const started = Date.now()
    try {
      await expect(waitUntilServing(endpoints, { ...expectation(10_000), signal: controller.signal })).rejects.toThrow('cancelled')
      expect(Date.now() - started).toBeLessThan(1_500)
    } finally {
      await close()
    }
  })

  it('over HTTPS, requires exactly the given certificate, self-signed or not', async () => {
    const pem = selfSignedPem()
    const service = https.createServer({ key: pem, cert: pem }, (_, response) => response.end('hello'))
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve))
    const { endpoints, close } = await standIn(healthy)
    const tls = { ...endpoints, servicePort: (service.address() as AddressInfo).port }
    try {
      const fingerprint = new X509Certificate(pem).fingerprint256
      await expect(waitUntilServing({ ...tls, certificateFingerprint: fingerprint }, expectation(3_000))).resolves.toHaveLength(1)
      await expect(waitUntilServing({ ...tls, certificateFingerprint: 'AA:BB' }, expectation(1_000))).rejects.toThrow('does not answer')
    } finally {
      service.closeAllConnections()
      await new Promise((resolve) => service.close(resolve))
      await close()
    }
  })
})

describe('waitUntilServing reads the stats page', () => {
  it("only from a server with the load-balancer's own certificate: another one is refused", async () => {
    const healthy = (): Row[] => [['web-1', 'UP', 'L7OK']]
    const expectation = (ms: number) => ({ backend: 'instances', servers: ['web-1'], throughService: true, deadline: Date.now() + ms })
    const genuine = await standIn(healthy)
    const impostor = await standIn(healthy, undefined, newStatsCertificate('vic-lb stats test'))
    try {
      await expect(waitUntilServing(genuine.endpoints, expectation(3_000))).resolves.toHaveLength(1)
      await expect(waitUntilServing(impostor.endpoints, expectation(1_000))).rejects.toThrow(/stats page does not answer \(self-signed certificate\)/)
    } finally {
      await genuine.close()
      await impostor.close()
    }
  })
})

// A port that accepts connections and never says anything, not even to a TLS client's hello.
const silent: { server: net.Server; sockets: net.Socket[] }[] = []
afterEach(async () => {
  for (const { server, sockets } of silent.splice(0)) {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
})
async function silentPort(): Promise<number> {
  const sockets: net.Socket[] = []
  const server = net.createServer((socket) => sockets.push(socket))
  silent.push({ server, sockets })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

describe('waitUntilListening', () => {
  async function listening(server: net.Server): Promise<number> {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return (server.address() as AddressInfo).port
  }

  it('is done once the port completes a TLS handshake, whatever the certificate', async () => {
    const server = tls.createServer({ key: STATS_CERTIFICATE.pem, cert: STATS_CERTIFICATE.certificate }, (socket) => socket.end())
    const port = await listening(server)
    try {
      expect(await waitUntilListening('127.0.0.1', port, 2_000)).toBe(true)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('is not done by a port that accepts and closes, as an engine’s port proxy does before HAProxy listens', async () => {
    const server = net.createServer((socket) => socket.destroy())
    const port = await listening(server)
    try {
      const started = Date.now()
      expect(await waitUntilListening('127.0.0.1', port, 500)).toBe(false)
      expect(Date.now() - started).toBeGreaterThanOrEqual(500)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
