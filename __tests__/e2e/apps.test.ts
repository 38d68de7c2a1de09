import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import * as https from 'node:https'
import type { TLSSocket } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { selfSignedPem } from '../../test-support/certificate'
import { dockerCliEnv } from '../../test-support/host'
import { startLoad } from '../../test-support/load'
import {
  IMAGES,
  LABEL_DEPLOYMENT,
  ON_DOCKERD,
  distinctAnswers,
  docker,
  explain,
  localInputs,
  objectsOf,
  deploymentsRemovedAfterAll,
  runAction,
} from './harness'

// Real applications (issue 9): environment, secrets, command, limits, pull policy and HTTPS, on
// the engine under test (VIC_LB_E2E_DOCKER_HOST), through the bundled action.

const deployment = deploymentsRemovedAfterAll()

// Values a shell or an env-file parser would change: each must arrive exactly as written.
const ENV: [string, string][] = [
  ['GREETING', 'hello world'],
  ['EQUALS', 'a=b==c'],
  ['DOLLARS', '$HOME ${PATH} $(id) `id`'],
  ['QUOTES', `"double" 'single' \\back`],
  ['HASH', 'not # a comment'],
  ['SPACES', '  padded  '],
  ['EMPTY', ''],
  ['UNICODE', 'grüße 名前 🙂'],
]
const SECRET_ENV: [string, string][] = [
  ['DATABASE_URL', 'postgres://app:p@ss w0rd=$x@db:5432/app?sslmode=require'],
  ['API_KEY', `key-${Math.random().toString(36).slice(2)}-$'"`],
]
const lines = (vars: [string, string][]): string => `# set by the workflow\n${vars.map(([k, v]) => `${k}=${v}`).join('\n')}\n`

function instancesOf(prefix: string): string[] {
  return docker('ps', '--filter', `label=${LABEL_DEPLOYMENT}=${prefix}`, '--filter', 'label=io.github.vic-lb-action.role=instance', '--format', '{{.Names}}')
    .split('\n')
    .filter(Boolean)
    .sort()
}

// The environment the instance's processes see, as `env` inside it prints it (busybox).
function environmentOf(container: string): Map<string, string> {
  const vars = new Map<string, string>()
  for (const line of docker('exec', container, 'env').split('\n')) vars.set(line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1))
  return vars
}

describe('env, secret-env, instance-command, instance-memory and instance-cpus', () => {
  it('every instance runs the given command with exactly the given variables and limits', async () => {
    const prefix = deployment('apps')
    // busybox httpd serving /etc on 8081: proves the command replaced the image's (which serves
    // "web v1 <hostname>" on 80).
    const inputs = await localInputs(prefix, {
      instances: '2',
      'instance-port': '8081',
      'instance-command': 'httpd -f -p 8081 -h /etc',
      'instance-memory': '96m',
      'instance-cpus': '0.5',
      env: lines(ENV),
      'secret-env': lines(SECRET_ENV),
    })
    const run = await runAction(inputs)
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain('Each instance is limited to 96 MiB and 0.5 CPU(s)')
    const names = instancesOf(prefix)
    expect(names).toHaveLength(2)
    for (const name of names) {
      const env = environmentOf(name)
      for (const [key, value] of [...ENV, ...SECRET_ENV]) expect(env.get(key), key).toBe(value)
      const [memory, nanoCpus, cmd] = docker('inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{json .Config.Cmd}}', name).split(' ')
      expect(Number(memory)).toBe(96 * 1024 ** 2)
      expect(Number(nanoCpus)).toBe(0.5e9)
      expect(JSON.parse(cmd)).toEqual(['httpd', '-f', '-p', '8081', '-h', '/etc'])
    }
    // Through the load-balancer: /etc/hostname of each instance, i.e. its container ID.
    const hostnames = await distinctAnswers(`${run.outputs.url}/hostname`, 12)
    expect([...hostnames].sort()).toEqual(names.map((n) => `200 ${docker('inspect', '-f', '{{.Config.Hostname}}', n)}`).sort())
    // The summary names the variables, never a value of either kind.
    expect(run.summary).toContain('<code>DATABASE_URL</code>')
    for (const [, value] of [...ENV, ...SECRET_ENV].filter(([, v]) => v.trim().length >= 4)) expect(run.summary).not.toContain(value)
  })

  it('a JSON array command is taken word for word', async () => {
    const prefix = deployment('argv')
    const run = await runAction(
      await localInputs(prefix, { instances: '1', 'instance-port': '8082', 'instance-command': '["httpd", "-f", "-p", "8082", "-h", "/etc"]' }),
    )
    expect(run.code, explain(run)).toBe(0)
    const [name] = instancesOf(prefix)
    expect(docker('inspect', '-f', '{{json .Config.Cmd}}', name)).toBe('["httpd","-f","-p","8082","-h","/etc"]')
  })
})

describe('bad instance inputs and failing commands', () => {
  it('a bad env line fails before anything is created, naming the input and line, not the value', async () => {
    const prefix = deployment('badenv')
    const run = await runAction(await localInputs(prefix, { env: 'GOOD=1\nnot-a-pair-hunter2' }))
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toContain("::error::Invalid env, line 2: no '='")
    expect(run.stdout).not.toContain('hunter2')
    expect(objectsOf(prefix)).toEqual([])
  })

  it('a command that exits fails the redeploy with its exit code, and the previous generation keeps serving', async () => {
    const prefix = deployment('badcmd')
    const inputs = await localInputs(prefix, { instances: '2', env: 'MODE=good\n' })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    const before = objectsOf(prefix)
    const failed = await runAction({ ...inputs, 'instance-command': '["sh", "-c", "echo bad command >&2; exit 7"]' })
    expect(failed.code, explain(failed)).toBe(1)
    expect(failed.stdout).toMatch(/exited with code 7 right after starting/)
    expect(failed.stdout).toContain('bad command')
    expect(objectsOf(prefix)).toEqual(before)
    expect([...(await distinctAnswers(first.outputs.url))].every((a) => a.startsWith('200 web v1'))).toBe(true)
  })
})

describe('a change of env or secret-env is a new generation, with zero downtime', () => {
  it('redeploys on an env change under load without losing a request; a new secret value is a new generation, the same one is not', async () => {
    const prefix = deployment('envzdt')
    const inputs = await localInputs(prefix, { instances: '2', env: 'MODE=one\n', 'secret-env': 'TOKEN=first-secret-value\n' })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    const firstNames = instancesOf(prefix)

    const load = startLoad(first.outputs.url)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const envChanged = await runAction({ ...inputs, env: 'MODE=two\n' })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const report = await load.stop()
    console.log(`env redeploy under load: ${report.total} requests, ${report.failed} failed over ${report.failureWindowMs} ms`)
    expect(envChanged.code, explain(envChanged)).toBe(0)
    expect(report.failures).toEqual([])
    expect(report.failed).toBe(0)
    expect(report.total).toBeGreaterThan(50)
    expect(envChanged.outputs['lb-container']).toBe(first.outputs['lb-container'])
    const afterEnv = instancesOf(prefix)
    for (const name of afterEnv) expect(environmentOf(name).get('MODE')).toBe('two')

    // Only a secret's value changes: found by comparing with the running instances, a new generation.
    const secretChanged = await runAction({ ...inputs, env: 'MODE=two\n', 'secret-env': 'TOKEN=second-secret-value\n' })
    expect(secretChanged.code, explain(secretChanged)).toBe(0)
    const afterSecret = instancesOf(prefix)
    expect(new Set([...firstNames, ...afterEnv, ...afterSecret]).size).toBe(6)
    for (const name of afterSecret) expect(environmentOf(name).get('TOKEN')).toBe('second-secret-value')

    // The same secrets again: nothing to do.
    const same = await runAction({ ...inputs, env: 'MODE=two\n', 'secret-env': 'TOKEN=second-secret-value\n' })
    expect(same.code, explain(same)).toBe(0)
    expect(same.stdout).toContain('Unchanged')
    expect(instancesOf(prefix)).toEqual(afterSecret)
    // No label holds a secret or anything made from it but its name.
    const labels = docker('inspect', '-f', '{{json .Config.Labels}}', ...afterSecret)
    expect(labels).not.toContain('second-secret-value')
    expect(labels).not.toContain('first-secret-value')
  })
})

describe('pull', () => {
  it('never: a missing image fails before anything is created, naming the image and the policy', async () => {
    const prefix = deployment('never')
    const missing = `vic-lb-test/not-here-${prefix}:1`
    const run = await runAction(await localInputs(prefix, { image: missing, pull: 'never' }))
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toContain(`::error::Image ${missing} is not on the Docker host, and pull is 'never'`)
    expect(objectsOf(prefix)).toEqual([])
  })

  it.each(['missing', 'never'])('%s: an image the host has is used without asking a registry, so without a warning', async (pull) => {
    const prefix = deployment(pull)
    const run = await runAction(await localInputs(prefix, { instances: '1', pull }))
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).not.toContain('::warning')
    expect(run.stdout).not.toMatch(/Could not pull|Pulling from/)
  })

  it("always (the default) still tries the registry: offline, the copy on the host serves with a warning (Podman's own images ask none)", async () => {
    const prefix = deployment('always')
    const run = await runAction(await localInputs(prefix, { instances: '1' }))
    expect(run.code, explain(run)).toBe(0)
    if (ON_DOCKERD) expect(run.stdout).toMatch(/::warning::Could not pull vic-lb-test\/web:1/)
    else expect(run.stdout).toContain("vic-lb-test/web:1: the host's own image localhost/vic-lb-test/web:1, from no registry: not pulled")
  })
})

// The certificate the service presents, and the answer, with the certificate trusted as a CA
// (it names 127.0.0.1): the connection is verified in full.
function getOverHttps(url: string, ca: string): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca, agent: false, timeout: 5000 }, (response) => {
      const fingerprint = (response.socket as TLSSocket).getPeerCertificate().fingerprint256
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: body.trim(), fingerprint }))
    })
    request.once('timeout', () => request.destroy(new Error('timeout')))
    request.once('error', reject)
  })
}

describe('lb-certificate: HTTPS on lb-port', () => {
  const fingerprintOf = (pem: string): string =>
    new X509Certificate(pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)![0]).fingerprint256

  it('serves the given certificate, keeps its key private to HAProxy, and redeploys and renews over HTTPS without losing a request', async () => {
    const prefix = deployment('https')
    const pem = selfSignedPem('localhost', 'ec', 'IP:127.0.0.1')
    const inputs = await localInputs(prefix, { instances: '2', 'lb-certificate': pem })
    const first = await runAction(inputs)
    expect(first.code, explain(first)).toBe(0)
    expect(first.outputs.url).toBe(`https://127.0.0.1:${inputs['lb-port']}`)
    const answer = await getOverHttps(`${first.outputs.url}/`, pem)
    expect(answer.status).toBe(200)
    expect(answer.body).toMatch(/^web v1 /)
    expect(answer.fingerprint).toBe(fingerprintOf(pem))
    // Plain HTTP on the same port is not served (HAProxy drops the connection or answers 400).
    const plain = await fetch(`http://127.0.0.1:${inputs['lb-port']}/`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status,
      () => 'refused',
    )
    expect(plain).not.toBe(200)

    // In the load-balancer: one file, mode 0400, owned by the user HAProxy runs as (uid 99).
    const lb = `${prefix}-lb`
    expect(certificateFile(lb)).toEqual({ mode: 0o400, uid: 99, gid: 99 })

    // A new image under load over HTTPS: no request lost, the same load-balancer.
    const load = startLoad(`${first.outputs.url}/`, 4, 120, pem)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const second = await runAction({ ...inputs, image: IMAGES.web2 })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const report = await load.stop()
    expect(second.code, explain(second)).toBe(0)
    expect(report.failures).toEqual([])
    expect(report.failed).toBe(0)
    expect(report.total).toBeGreaterThan(50)
    expect([...report.bodies.keys()].some((b) => b.startsWith('web v2'))).toBe(true)
    expect(second.outputs['lb-container']).toBe(first.outputs['lb-container'])

    // A renewed certificate: loaded by a graceful reload of the same load-balancer.
    const renewed = selfSignedPem('localhost', 'ec', 'IP:127.0.0.1')
    const third = await runAction({ ...inputs, image: IMAGES.web2, 'lb-certificate': renewed })
    expect(third.code, explain(third)).toBe(0)
    expect(third.outputs['lb-container']).toBe(first.outputs['lb-container'])
    expect((await getOverHttps(`${first.outputs.url}/`, renewed)).fingerprint).toBe(fingerprintOf(renewed))
    expect(certificateFile(lb)).toEqual({ mode: 0o400, uid: 99, gid: 99 })
  })

  it('a certificate whose key does not match fails before anything is created', async () => {
    const prefix = deployment('badcert')
    const [cert, key] = [selfSignedPem(), selfSignedPem()].map((pem, i) =>
      i === 0
        ? pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/)![0]
        : pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----\n/)![0],
    )
    const run = await runAction(await localInputs(prefix, { 'lb-certificate': cert + key }))
    expect(run.code, explain(run)).toBe(1)
    expect(run.stdout).toContain('::error::Invalid lb-certificate: the private key does not belong to the first certificate')
    expect(objectsOf(prefix)).toEqual([])
  })
})

// Mode and owner of the certificate file, from the tar header the Engine's archive API sends.
function certificateFile(container: string): { mode: number; uid: number; gid: number } {
  const tar = execFileSync('docker', ['cp', `${container}:/usr/local/etc/haproxy/service.pem`, '-'], { env: dockerCliEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const octal = (offset: number): number =>
    parseInt(
      tar
        .subarray(offset, offset + 8)
        .toString('ascii')
        .replace(/\0.*$/, '')
        .trim(),
      8,
    )
  return { mode: octal(100) & 0o7777, uid: octal(108), gid: octal(116) }
}
