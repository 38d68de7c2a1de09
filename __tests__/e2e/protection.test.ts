import { randomBytes } from 'node:crypto'
import * as http from 'node:http'
import * as https from 'node:https'
import * as net from 'node:net'
import { describe, expect, it } from 'vitest'
import { selfSignedPem } from '../../test-support/certificate'
import { startLoad } from '../../test-support/load'
import {
  IMAGES,
  docker,
  explain,
  expectNowhere,
  inspectDeployment,
  localInputs,
  objectsOf,
  deploymentsRemovedAfterAll,
  runAction,
  withoutMaskCommands,
} from './harness'

// basic-auth and allow-cidrs, end to end: what a client gets with and without credentials, over
// HTTP and HTTPS; that no password reaches the load-balancer or the log; which source address the
// load-balancer sees of a client on 127.0.0.1; and a redeploy under load with credentials.

const deployment = deploymentsRemovedAfterAll()

// Long random passwords with the characters that would break a config line or a format string.
const USERS = [
  { user: 'reviewer', password: `${randomBytes(12).toString('base64')} #%[x]"` },
  { user: 'qa@example.test', password: `pw:${randomBytes(12).toString('hex')}` },
]
const basicAuthInput = (users = USERS) => users.map((u) => `${u.user}:${u.password}`).join('\n') + '\n'
const authorization = ({ user, password }: { user: string; password: string }) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

// One request on a connection of its own; the test certificate names 127.0.0.1 and is trusted as a CA.
function request(url: string, headers: Record<string, string> = {}, ca?: string): Promise<{ status: number; body: string; challenge?: string }> {
  return new Promise((resolve, reject) => {
    const done = (response: http.IncomingMessage): void => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: body.trim(), challenge: response.headers['www-authenticate'] }))
    }
    const options = { headers, agent: false, timeout: 5000 }
    const req = url.startsWith('https:') ? https.get(url, { ...options, ca }, done) : http.get(url, options, done)
    req.once('timeout', () => req.destroy(new Error('timeout')))
    req.once('error', reject)
  })
}

// Every file of the load-balancer's configuration directory and of /tmp (where a candidate
// configuration is checked), as tar streams through the Docker API: the image has no shell.
function lbFiles(lb: string): string {
  return ['/usr/local/etc/haproxy', '/tmp'].map((dir) => docker('cp', `${lb}:${dir}`, '-')).join('\n')
}

describe('basic-auth', () => {
  it.each(['http', 'https'] as const)(
    'over %s: 401 with a challenge without or with wrong credentials, 200 with right ones; no password outside the action',
    async (scheme) => {
      const prefix = deployment(`auth-${scheme}`)
      const pem = selfSignedPem('localhost', 'ec', 'IP:127.0.0.1')
      const inputs = await localInputs(prefix, { instances: '2', 'basic-auth': basicAuthInput(), ...(scheme === 'https' ? { 'lb-certificate': pem } : {}) })
      const run = await runAction(inputs)
      expect(run.code, explain(run)).toBe(0)
      const url = run.outputs.url
      expect(url.startsWith(`${scheme}://`)).toBe(true)
      const ca = scheme === 'https' ? pem : undefined

      const anonymous = await request(url, {}, ca)
      expect(anonymous.status).toBe(401)
      expect(anonymous.challenge).toBe(`Basic realm="${prefix}"`)
      for (const wrong of [
        { user: USERS[0]!.user, password: USERS[1]!.password },
        { user: 'nobody', password: USERS[0]!.password },
        { user: USERS[0]!.user, password: `${USERS[0]!.password}x` },
      ])
        expect((await request(url, { authorization: authorization(wrong) }, ca)).status).toBe(401)
      expect((await request(url, { authorization: `Bearer ${USERS[0]!.password}` }, ca)).status).toBe(401)
      for (const user of USERS) {
        const answer = await request(url, { authorization: authorization(user) }, ca)
        expect(answer.status).toBe(200)
        expect(answer.body).toMatch(/^web v1/)
      }

      const secrets = USERS.flatMap((u) => [u.password, `${u.user}:${u.password}`, authorization(u).slice('Basic '.length)])
      const lb = `${prefix}-lb`
      const onHost = [lbFiles(lb), inspectDeployment(prefix), docker('logs', lb)].join('\n')
      for (const secret of secrets) expect(onHost.includes(secret), 'a password reached the Docker host').toBe(false)
      expect(lbFiles(lb)).toMatch(/acl known_credentials .* -m str [0-9A-F]{64}/)
      expectNowhere(run, secrets)
      expect(run.summary).toContain('salted SHA-256, kept only in the load-balancer')
      // Masked, each password on its own too.
      for (const user of USERS) expect(run.stdout).toContain(`::add-mask::${user.password.replace(/%/g, '%25')}`)
      expect(withoutMaskCommands(run.stdout)).not.toMatch(/[0-9A-F]{64}/)
    },
  )

  it('with protocol tcp is refused before anything is created, naming the input and not the value', async () => {
    const prefix = deployment('auth-tcp')
    const run = await runAction(await localInputs(prefix, { protocol: 'tcp', 'basic-auth': basicAuthInput() }))
    expect(run.code).toBe(1)
    expect(run.stdout).toContain("::error::Input 'basic-auth' needs protocol 'http'")
    expectNowhere(
      run,
      USERS.map((u) => u.password),
    )
    expect(objectsOf(prefix)).toEqual([])
  })

  it('a redeploy under load that also changes the list fails no request that carries credentials', async () => {
    const prefix = deployment('auth-zdt')
    const inputs = await localInputs(prefix, { 'basic-auth': basicAuthInput() })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)

    const load = startLoad(first.outputs.url, 4, 120, undefined, { authorization: authorization(USERS[0]!) })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const added = { user: 'late', password: randomBytes(16).toString('hex') }
    const second = await runAction({ ...inputs, image: IMAGES.web2, 'basic-auth': basicAuthInput([USERS[0]!, added]) })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const report = await load.stop()

    expect(second.code, explain(second)).toBe(0)
    expect(second.outputs['lb-container']).toBe(first.outputs['lb-container'])
    expect(report.failures).toEqual([])
    expect(report.failed).toBe(0)
    expect([...report.bodies.keys()].some((b) => b.startsWith('web v2'))).toBe(true)
    // The new list, loaded by the graceful reload: the added user gets in, the removed one not.
    expect((await request(second.outputs.url, { authorization: authorization(added) })).status).toBe(200)
    expect((await request(second.outputs.url, { authorization: authorization(USERS[1]!) })).status).toBe(401)
    // The same inputs again: the kept salt renders the same configuration, so nothing changes.
    const again = await runAction({ ...inputs, image: IMAGES.web2, 'basic-auth': basicAuthInput([USERS[0]!, added]) })
    expect(again.code, explain(again)).toBe(0)
    expect(again.stdout).toContain('Unchanged')
  })
})

// What the load-balancer sees as the source of a client on 127.0.0.1 of a published port: the
// gateway of the network it is published from (dockerd's userland proxy connects from there;
// Podman's port forwarding masquerades to it).
function gatewaySeenBy(lb: string): string {
  const networks = JSON.parse(docker('inspect', '-f', '{{json .NetworkSettings.Networks}}', lb)) as Record<string, { Gateway: string }>
  const [gateway] = Object.values(networks).map((n) => n.Gateway)
  expect(gateway).toBeTruthy()
  return gateway!
}

// TEST-NET-1 (RFC 5737): no source address on this machine is in it.
const ELSEWHERE = '192.0.2.0/24'

describe('allow-cidrs', () => {
  it('http: 403 from outside the networks, 200 from inside; a changed list is a reload of the same load-balancer', async () => {
    const prefix = deployment('cidr-http')
    const inputs = await localInputs(prefix, { instances: '2', 'allow-cidrs': `${ELSEWHERE}, 2001:db8::/32` })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    const refused = await request(first.outputs.url)
    expect(refused.status).toBe(403)
    expect(refused.body).not.toMatch(/web v1/)

    const gateway = gatewaySeenBy(`${prefix}-lb`)
    console.log(`${prefix}: a client on 127.0.0.1 reaches the load-balancer from ${gateway}`)
    const second = await runAction({ ...inputs, 'allow-cidrs': `${ELSEWHERE}\n${gateway}/32` })
    expect(second.code, explain(second)).toBe(0)
    expect(second.outputs['lb-container']).toBe(first.outputs['lb-container'])
    // At once: the deploy returns only once the stats page is served under the new configuration.
    const allowed = await request(second.outputs.url)
    expect(allowed.status).toBe(200)
    expect(allowed.body).toMatch(/^web v1/)
  })

  it('tcp: a connection from outside is closed before any instance sees it, one from inside is served', async () => {
    const prefix = deployment('cidr-tcp')
    const inputs = await localInputs(prefix, { instances: '1', protocol: 'tcp', 'allow-cidrs': ELSEWHERE })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    const port = Number(first.outputs.port)
    expect(await rawHttpGet(port)).toBe('')
    const second = await runAction({ ...inputs, 'allow-cidrs': `${gatewaySeenBy(`${prefix}-lb`)}/32` })
    expect(second.code, explain(second)).toBe(0)
    expect(await rawHttpGet(port)).toMatch(/^HTTP\/1\.[01] 200/)
  })

  it('a malformed entry is refused before anything is created, naming the input and the entry', async () => {
    const prefix = deployment('cidr-bad')
    const run = await runAction(await localInputs(prefix, { 'allow-cidrs': '10.0.0.0/8, 10.1.0.0/33' }))
    expect(run.code).toBe(1)
    expect(run.stdout).toContain('::error::Invalid allow-cidrs, entry 2: the prefix length is not a number from 0 to 32')
    expect(objectsOf(prefix)).toEqual([])
  })
})

// What a plain HTTP/1.0 GET on 127.0.0.1:port reads until the connection closes.
function rawHttpGet(port: number): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('GET / HTTP/1.0\r\n\r\n'))
    socket.setTimeout(5000, () => socket.destroy())
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
    socket.once('close', () => resolve(text))
    socket.once('error', () => undefined)
  })
}
