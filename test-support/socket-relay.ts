import * as fs from 'node:fs'
import * as net from 'node:net'

// A unix socket that passes every connection on to the engine's socket, and that a test can take
// away and bring back: to the action behind it, a Docker daemon that restarts, without
// restarting the machine's daemon (which would stop everyone's containers).
export class SocketRelay {
  private server?: net.Server
  private readonly connections = new Set<net.Socket>()

  constructor(
    readonly path: string,
    private readonly enginePath: string,
  ) {}

  async up(): Promise<void> {
    fs.rmSync(this.path, { force: true })
    const server = net.createServer({ allowHalfOpen: true }, (client) => {
      const engine = net.connect({ path: this.enginePath, allowHalfOpen: true })
      for (const socket of [client, engine]) {
        this.connections.add(socket)
        socket.on('close', () => this.connections.delete(socket))
      }
      client.on('error', () => engine.destroy())
      engine.on('error', () => client.destroy())
      client.on('close', () => engine.destroy())
      engine.on('close', () => client.destroy())
      client.pipe(engine).pipe(client)
    })
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.path, resolve))
    this.server = server
  }

  // Gone as a stopped daemon is: open connections reset, the socket file removed.
  async down(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const socket of this.connections) socket.destroy()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
    fs.rmSync(this.path, { force: true })
  }
}
