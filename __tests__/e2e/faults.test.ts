import * as fs from 'node:fs'
import * as http from 'node:http'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ENGINE,
  IMAGES,
  LABEL_DEPLOYMENT,
  TLS_DIR,
  distinctAnswers,
  docker,
  explain,
  freePort,
  localInputs,
  objectsOf,
  removeDeployment,
  runAction,
  tlsEndpoint,
  tlsInputs,
  uniquePrefix,
  type ActionRun,
  until,
} from './harness'
import { silentServer } from '../../test-support/silent-server'
import { SocketRelay } from '../../test-support/socket-relay'

// Faults around the deploy: an unreachable or misconfigured Docker host, an image that is not
// there, a port that is taken, a daemon restarting mid-deploy. Each ends with one clear error,
// nothing of the run left on the host, and a deployment that served before still serving.
// Traffic goes to 127.0.0.1 only: closed ports, and servers this file starts itself.

const created: string[] = []
afterAll(() => created.forEach(removeDeployment))

function errorOf(run: ActionRun): string {
  const line = run.stdout.split('\n').find((l) => l.startsWith('::error::'))
  expect(line, explain(run)).toBeDefined()
  return line!.slice('::error::'.length)
}

async function failingDeploy(tag: string, extra: Record<string, string>): Promise<{ run: ActionRun; error: string; seconds: number }> {
  const prefix = uniquePrefix(tag)
  created.push(prefix)
  const started = Date.now()
  const run = await runAction(await localInputs(prefix, extra))
  const seconds = (Date.now() - started) / 1000
  expect(run.code, explain(run)).toBe(1)
  expect(objectsOf(prefix)).toEqual([])
  return { run, error: errorOf(run), seconds }
}

async function plainHttpServer(): Promise<{ port: number; close: () => void }> {
  const server = http.createServer((_, response) => response.end('not a Docker host\n'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() }
}

describe('an unreachable Docker host fails in bounded time, naming the host and what to check', () => {
  it('a closed port: refused, retried with backoff, then given up', async () => {
    const port = await freePort()
    const { error, seconds } = await failingDeploy('closed', { 'docker-host': `tcp://127.0.0.1:${port}` })
    expect(error).toContain(
      `Cannot reach the Docker host tcp://127.0.0.1:${port}: nothing accepts connections on port ${port} (ECONNREFUSED); gave up after 3 attempts.`,
    )
    expect(error).toContain('Check the port')
    expect(seconds).toBeLessThan(15)
  })

  it('a port that accepts and never answers: the answer timeout, per attempt', async () => {
    const hang = await silentServer()
    try {
      const { error, seconds } = await failingDeploy('hang', { 'docker-host': `tcp://127.0.0.1:${hang.port}` })
      expect(error).toContain(
        `Cannot reach the Docker host tcp://127.0.0.1:${hang.port}: connected, but GET /version got no answer within 10 s; gave up after 3 attempts.`,
      )
      expect(error).toContain('Check that docker-host points at the Docker Engine API port')
      // 3 attempts of 10 s and 1 + 3 s between them.
      expect(seconds).toBeGreaterThan(30)
      expect(seconds).toBeLessThan(45)
    } finally {
      hang.close()
    }
  })
})

describe("TLS misconfigurations each get their own message (the suite's TLS endpoint requires client certificates)", () => {
  const good = tlsInputs()
  const messages: string[] = []
  afterAll(() => {
    // Five faults, five different explanations.
    expect(new Set(messages).size).toBe(messages.length)
  })

  const cases: [string, () => Promise<Record<string, string>>, RegExp][] = [
    [
      'a CA that did not sign the host certificate',
      async () => ({ 'docker-host': `tcp://${tlsEndpoint()}`, ...tlsInputs(), 'tls-ca-cert': tlsInputs(path.join(TLS_DIR, 'other-ca'))['tls-ca-cert'] }),
      // dockerd sends its certificate alone (UNABLE_TO_VERIFY_LEAF_SIGNATURE); the suite's endpoint,
      // OpenSSL, sends its CA along (SELF_SIGNED_CERT_IN_CHAIN).
      /the Docker host's certificate is not signed by tls-ca-cert \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)\. Give the CA that signed/,
    ],
    [
      'no client certificate',
      async () => ({ 'docker-host': `tcp://${tlsEndpoint()}`, 'tls-ca-cert': good['tls-ca-cert'] }),
      /the Docker host refused the client certificate: none was given, tls-cert and tls-key are empty \(ERR_SSL_\w+_ALERT_\w+\)\. Give the client certificate/,
    ],
    [
      'an expired client certificate',
      async () => ({ 'docker-host': `tcp://${tlsEndpoint()}`, ...tlsInputs(path.join(TLS_DIR, 'expired')) }),
      /the Docker host refused the client certificate: the client certificate expired on 2020-01-02 \(ERR_SSL_\w+_ALERT_\w+\)/,
    ],
    [
      // http:// means plain HTTP whatever the port (target.ts), as a mistyped docker-host would.
      'plain HTTP against the TLS port',
      async () => ({ 'docker-host': `http://${tlsEndpoint()}` }),
      /the host expects TLS on this port, and this connection was plain HTTP \(no TLS inputs were given\)\. Give tls-ca-cert, tls-cert and tls-key/,
    ],
    [
      'TLS against a plain HTTP port',
      async () => ({ 'docker-host': `tcp://127.0.0.1:${plain!.port}`, ...good }),
      /the host does not speak TLS on port \d+; it answered in plain text\. Use the TLS port of the Docker host \(2376\)/,
    ],
  ]
  let plain: Awaited<ReturnType<typeof plainHttpServer>> | undefined
  afterAll(() => plain?.close())

  for (const [what, inputs, message] of cases) {
    it(what, async () => {
      plain ??= await plainHttpServer()
      const extra = await inputs()
      const { error, seconds } = await failingDeploy('tls', extra)
      expect(error).toMatch(new RegExp(`^Cannot reach the Docker host ${extra['docker-host'].replace(/[.:/]/g, '\\$&')}: `))
      expect(error).toMatch(message)
      // Not worth a retry: the same certificates fail the same way.
      expect(error).not.toContain('attempts')
      expect(seconds).toBeLessThan(10)
      messages.push(error.replace(/\d+/g, 'N'))
    })
  }
})

describe('an image that does not exist', () => {
  it('fails at the pull, before any container or network is created', async () => {
    const prefix = uniquePrefix('noimage')
    created.push(prefix)
    const since = Math.floor(Date.now() / 1000) - 1
    const run = await runAction(await localInputs(prefix, { image: 'vic-lb-test/absent:1' }))
    const until = Math.ceil(Date.now() / 1000) + 1
    expect(run.code, explain(run)).toBe(1)
    expect(errorOf(run)).toMatch(/^Could not pull image vic-lb-test\/absent:1: .*Check the image name and tag/)
    // Not "created and removed again": the Docker host saw no instance, load-balancer or network
    // created at all (only the deployment's lock, which every run takes).
    const events = docker(
      'events',
      '--since',
      String(since),
      '--until',
      String(until),
      '--filter',
      'type=container',
      '--filter',
      'type=network',
      '--format',
      `{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes "${LABEL_DEPLOYMENT.replace('deployment', 'role')}"}}`,
    )
    expect(events.split('\n').filter((line) => line.includes(prefix) && !line.endsWith(' lock'))).toEqual([])
    expect(objectsOf(prefix)).toEqual([])
  })
})

describe('lb-port already in use on the Docker host (publish mode)', () => {
  async function occupy(): Promise<{ port: number; close: () => void }> {
    const server = net.createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return { port: (server.address() as net.AddressInfo).port, close: () => server.close() }
  }

  it('a first deploy fails naming the port, and leaves nothing', async () => {
    const taken = await occupy()
    try {
      const { error } = await failingDeploy('porttaken', { 'lb-port': String(taken.port), instances: '2' })
      expect(error).toContain(`Port ${taken.port} is taken on the Docker host: choose another lb-port or stop what uses it.`)
    } finally {
      taken.close()
    }
  })

  it('moving a serving deployment to a taken port fails, and the deployment goes on serving where it was', async () => {
    const prefix = uniquePrefix('portmove')
    created.push(prefix)
    const inputs = await localInputs(prefix, { instances: '2' })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    const before = objectsOf(prefix)
    const taken = await occupy()
    try {
      const moved = await runAction({ ...inputs, 'lb-port': String(taken.port) })
      expect(moved.code, explain(moved)).toBe(1)
      expect(errorOf(moved)).toContain(`Port ${taken.port} is taken on the Docker host`)
    } finally {
      taken.close()
    }
    expect(objectsOf(prefix)).toEqual(before)
    expect((await distinctAnswers(first.outputs.url)).size).toBe(2)
  })
})

// The engine under test's socket.
const ENGINE_SOCKET = ENGINE.dockerHost.replace(/^unix:\/\//, '')

// The daemon restarting, as the action sees it: its docker-host is a relay to the engine's socket
// that goes away for a few seconds and comes back (the machine's daemon itself is never touched).
describe('the Docker daemon restarts during a deploy', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-relay-'))
  const relay = new SocketRelay(path.join(dir, 'docker.sock'), ENGINE_SOCKET)
  afterAll(async () => {
    await relay.down()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('the run fails naming the Docker host and what to do, and the next run converges', async () => {
    await relay.up()
    const prefix = uniquePrefix('restart')
    created.push(prefix)
    const inputs = await localInputs(prefix, { instances: '3', 'docker-host': `unix://${relay.path}` })
    // Instances that never get healthy keep the deploy waiting while the daemon goes away.
    const deploying = runAction({ ...inputs, image: IMAGES.silent, 'wait-timeout': '60' })
    await until('the load-balancer is created', () => objectsOf(prefix).includes(`${prefix}-lb`), 30_000)
    await new Promise((resolve) => setTimeout(resolve, 2000))
    await relay.down()
    await new Promise((resolve) => setTimeout(resolve, 5000))
    await relay.up()
    const failed = await deploying
    expect(failed.code, explain(failed)).toBe(1)
    const error = errorOf(failed)
    expect(error).toMatch(
      new RegExp(`^Lost the connection to the Docker host unix://${relay.path.replace(/[.]/g, '\\.')} \\((ECONNREFUSED|ENOENT|ECONNRESET)[;)]`),
    )
    expect(error).toContain('run the action again')
    console.log(`the failed run said: ${error}`)
    // Its clean-up waited for the daemon to come back, and took back everything it had created.
    expect(objectsOf(prefix)).toEqual([])

    const nextStarted = Date.now()
    const next = await runAction(inputs)
    expect(next.code, explain(next)).toBe(0)
    console.log(`the next deploy converged in ${((Date.now() - nextStarted) / 1000).toFixed(1)} s`)
    expect((await distinctAnswers(next.outputs.url)).size).toBe(3)
    const down = await runAction({ command: 'teardown', 'instance-prefix': prefix, 'docker-host': `unix://${relay.path}` })
    expect(down.code, explain(down)).toBe(0)
    expect(objectsOf(prefix)).toEqual([])
  })
})
