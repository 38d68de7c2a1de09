import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { freePort } from './host'

// The end-to-end suite's own TLS endpoint for the engine under test, so that testing
// `docker-host: tcp://...` with client certificates needs no dockerd started with other flags.
// It behaves as `dockerd --tlsverify` does, down to what the action tells apart:
// - stunnel (OpenSSL) terminates TLS with the server certificate and CA of
//   scripts/make-test-certs.sh and refuses, inside the handshake and with the TLS alert that says
//   why, a client without a certificate, with one from another CA, or with an expired one. (Node's
//   TLS server cannot: it checks client certificates after the handshake and just closes. socat
//   cannot resume TLS sessions with client certificates, which the action's HTTPS agent does.)
// - In front of it, plain HTTP gets the answer Go's net/http gives on a TLS port.
// Bytes then pass unchanged to the engine's unix socket, hijacked streams included.

export interface DockerTlsProxy {
  port: number
  close: () => Promise<void>
}

const PLAIN_HTTP_ANSWER = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n'
const TLS_HANDSHAKE = 0x16

export async function startDockerTlsProxy(options: { socketPath: string; tlsDir: string }): Promise<DockerTlsProxy> {
  const file = (name: string) => path.join(options.tlsDir, name)
  const tlsPort = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-tls-endpoint-'))
  const config = path.join(dir, 'stunnel.conf')
  fs.writeFileSync(
    config,
    [
      'foreground = yes',
      'pid =',
      'syslog = no',
      'debug = 3',
      '[docker]',
      `accept = 127.0.0.1:${tlsPort}`,
      `connect = ${options.socketPath}`,
      `cert = ${file('server-cert.pem')}`,
      `key = ${file('server-key.pem')}`,
      `CAfile = ${file('ca.pem')}`,
      'verifyChain = yes',
      'requireCert = yes',
      '',
    ].join('\n'),
  )
  const stunnel = spawn('stunnel', [config], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stunnelError = ''
  stunnel.stderr.on('data', (chunk: Buffer) => (stunnelError = `${stunnelError}${chunk}`.slice(-2000)))
  const exited = new Promise<string>((resolve) => {
    stunnel.on('error', (error) => resolve(error.message))
    stunnel.on('exit', (code) => resolve(`exit code ${code}: ${stunnelError}`))
  })
  await waitForListener(tlsPort, exited)

  const connections = new Set<net.Socket>()
  const track = (socket: net.Socket) => {
    connections.add(socket)
    socket.on('close', () => connections.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    track(client)
    client.once('data', (first: Buffer) => {
      if (first[0] !== TLS_HANDSHAKE) return client.end(PLAIN_HTTP_ANSWER)
      const tls = net.connect({ port: tlsPort, host: '127.0.0.1', allowHalfOpen: true })
      track(tls)
      client.on('close', () => tls.destroy())
      tls.on('close', () => client.destroy())
      tls.write(first)
      client.pipe(tls).pipe(client)
    })
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy()
        stunnel.kill()
        fs.rmSync(dir, { recursive: true, force: true })
        server.close(() => resolve())
      }),
  }
}

async function waitForListener(port: number, exited: Promise<string>): Promise<void> {
  let failure: string | undefined
  void exited.then((why) => (failure = why))
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (failure !== undefined) throw new Error(`stunnel (the suite's TLS endpoint) did not start: ${failure}. Install it: apt-get install stunnel4`)
    const listening = await new Promise<boolean>((resolve) => {
      const probe = net.connect({ port, host: '127.0.0.1' }, () => resolve(true)).on('error', () => resolve(false))
      probe.on('connect', () => probe.destroy())
    })
    if (listening) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`stunnel (the suite's TLS endpoint) does not listen on 127.0.0.1:${port} after 10 s`)
}
