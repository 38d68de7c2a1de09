// The VCH stand-in must really behave like a VCH (or Docker Engine 29), not pass requests through:
// each test shows one behaviour against the real dockerd behind it. The stand-in proxies dockerd's
// socket, so these tests run in the docker engine's suite only (and fail on another).
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import Docker from 'dockerode'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startVchProxy, type VchProxy, type VchProxyOptions } from '../../test-support/vch-proxy'
import { requireDockerd } from './harness'

requireDockerd('vch-proxy.test.ts')

const PREFIX = `vchp-test-${randomBytes(4).toString('hex')}`
const IMAGE = `${PREFIX}-img:1`
const upstream = new Docker({ socketPath: '/var/run/docker.sock' })

const proxies: VchProxy[] = []
async function proxy(opts: VchProxyOptions = {}): Promise<VchProxy> {
  const p = await startVchProxy({ startDelayMs: 300, log: process.env.VCHP_LOG ? (l) => console.log(l) : undefined, ...opts })
  proxies.push(p)
  return p
}

function client(p: VchProxy, version = 'v1.25'): Docker {
  return new Docker({ host: p.host, port: p.port, protocol: 'http', version })
}

interface RawResponse {
  status: number
  headers: http.IncomingHttpHeaders
  text: string
  json: any
}

function raw(p: VchProxy, method: string, url: string, body?: unknown): Promise<RawResponse> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  const headers = data ? { 'content-type': 'application/json', 'content-length': data.length } : {}
  return new Promise((resolve, reject) => {
    const req = http.request({ host: p.host, port: p.port, method, path: url, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: any
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(data)
  })
}

// @types/dockerode omits the (deprecated) top-level address.
const topLevelIp = (c: Docker.ContainerInspectInfo) => (c.NetworkSettings as { IPAddress?: string }).IPAddress

const name = (suffix: string) => `${PREFIX}-${suffix}`

async function createNetwork(suffix: string) {
  return upstream.createNetwork({ Name: name(suffix), CheckDuplicate: true })
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
}

function tarOf(dir: string, file: string): Readable {
  return spawn('tar', ['-C', dir, '-c', file], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout
}

// A throwaway busybox image (no registry is reachable), so the tests know exactly what is in it.
async function buildImage() {
  const root = mkdtempSync(path.join(tmpdir(), `${PREFIX}-rootfs-`))
  try {
    for (const dir of ['bin', 'tmp', 'www']) mkdirSync(path.join(root, dir))
    copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'))
    for (const applet of ['sh', 'httpd', 'sleep', 'echo', 'cat']) symlinkSync('busybox', path.join(root, 'bin', applet))
    writeFileSync(path.join(root, 'www/index.html'), 'ok\n')
    const [repo, tag] = IMAGE.split(':')
    const stream = await upstream.importImage(tarOf(root, '.'), {
      repo,
      tag,
      changes: 'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]',
    } as object)
    await new Promise((resolve, reject) => upstream.modem.followProgress(stream, (err, out) => (err ? reject(err) : resolve(out))))
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

async function waitForExit(container: Docker.Container): Promise<Docker.ContainerInspectInfo['State']> {
  for (let i = 0; i < 50; i++) {
    const { State } = await container.inspect()
    if (State.Status === 'exited') return State
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`container ${container.id} did not exit`)
}

async function removeLeftovers() {
  await waitForUpstream()
  const containers = await upstream.listContainers({ all: true, filters: { name: [PREFIX] } })
  await Promise.all(
    containers.map((c) =>
      upstream
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => {}),
    ),
  )
  const { Volumes: volumes } = await upstream.listVolumes({ filters: { name: [PREFIX] } })
  await Promise.all(
    (volumes ?? []).map((v) =>
      upstream
        .getVolume(v.Name)
        .remove()
        .catch(() => {}),
    ),
  )
  const networks = await upstream.listNetworks({ filters: { name: [PREFIX] } })
  await Promise.all(
    networks.map((n) =>
      upstream
        .getNetwork(n.Id)
        .remove()
        .catch(() => {}),
    ),
  )
}

async function waitForUpstream() {
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      await upstream.ping()
      return
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 500))
    }
  }
}

beforeAll(async () => {
  await waitForUpstream()
  await buildImage()
})

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()))
  await removeLeftovers()
})

afterAll(async () => {
  await removeLeftovers()
  await upstream
    .getImage(IMAGE)
    .remove({ force: true })
    .catch(() => {})
})

describe('vch mode', () => {
  it('answers /version, /_ping and /info as a VCH', async () => {
    const p = await proxy()
    await createNetwork('listed')

    const version = await raw(p, 'GET', '/version')
    expect(version.status).toBe(200)
    expect(version.json).toMatchObject({ ApiVersion: '1.25', MinAPIVersion: '1.19' })
    expect(version.headers.server).toBe('Docker/1.25')
    expect((await upstream.version()).ApiVersion).not.toBe('1.25')
    // Clients negotiate with /version and /_ping, so these are answered at any version, even
    // one the upstream dockerd (1.41) would refuse.
    expect((await raw(p, 'GET', '/v1.50/version')).json.ApiVersion).toBe('1.25')
    for (const url of ['/_ping', '/v1.50/_ping']) {
      const ping = await raw(p, 'HEAD', url)
      expect(ping.status).toBe(200)
      expect(ping.headers['api-version']).toBe('1.25')
    }

    const info = await client(p).info()
    expect(info.ID).toBe('vSphere Integrated Containers')
    expect(info.Driver).toMatch(/^vSphere Integrated Containers/)
    expect(info.Plugins.Network).toContain(name('listed'))
    expect(info.Plugins.Network).not.toContain('host')

    const configured = await proxy({ containerNetworks: ['routable'] })
    expect((await client(configured).info()).Plugins.Network).toEqual(['routable'])
  })

  it('refuses API versions above 1.25 like an old daemon, forwards 1.25 and unversioned', async () => {
    const p = await proxy()
    const tooNew = await raw(p, 'GET', '/v1.41/containers/json')
    expect(tooNew.status).toBe(400)
    expect(tooNew.json).toEqual({ message: 'client version 1.41 is too new. Maximum supported API version is 1.25' })
    await expect(client(p, 'v1.41').listContainers()).rejects.toMatchObject({ statusCode: 400 })

    const tooOld = await raw(p, 'GET', '/v1.18/containers/json')
    expect(tooOld.status).toBe(400)
    expect(tooOld.json.message).toMatch(/client version 1.18 is too old. Minimum supported API version is 1.19/)

    expect((await raw(p, 'GET', '/v1.25/containers/json?all=1')).status).toBe(200)
    expect((await raw(p, 'GET', '/containers/json?all=1')).status).toBe(200)
  })

  it('refuses a create with more than one network endpoint', async () => {
    const p = await proxy()
    await createNetwork('a')
    await createNetwork('b')
    const docker = client(p)

    const twoEndpoints = docker.createContainer({
      name: name('two'),
      Image: IMAGE,
      NetworkingConfig: { EndpointsConfig: { [name('a')]: {}, [name('b')]: {} } },
    })
    await expect(twoEndpoints).rejects.toMatchObject({ statusCode: 400 })
    await expect(twoEndpoints).rejects.toThrow(/cannot be connected to network endpoints/)
    // dockerd refuses this too below API 1.44, so check that the proxy answered, not dockerd.
    const refused = await raw(p, 'POST', `/v1.25/containers/create?name=${name('two')}`, {
      Image: IMAGE,
      NetworkingConfig: { EndpointsConfig: { [name('a')]: {}, [name('b')]: {} } },
    })
    expect(refused.headers['x-vch-proxy']).toBe('create-one-network')
    expect(await upstream.listContainers({ all: true, filters: { name: [name('two')] } })).toEqual([])

    const one = await docker.createContainer({
      name: name('one'),
      Image: IMAGE,
      NetworkingConfig: { EndpointsConfig: { [name('a')]: {} } },
    })
    expect(Object.keys((await upstream.getContainer(one.id).inspect()).NetworkSettings.Networks)).toEqual([name('a')])
  })

  it('connects a created container to a network but refuses a running one', async () => {
    const p = await proxy()
    const network = client(p).getNetwork((await createNetwork('net')).id)
    const created = await client(p).createContainer({ name: name('created'), Image: IMAGE })
    const running = await upstream.createContainer({ name: name('running'), Image: IMAGE })
    await running.start()

    await network.connect({ Container: created.id })
    expect((await upstream.getContainer(created.id).inspect()).NetworkSettings.Networks).toHaveProperty(name('net'))

    const connectRunning = network.connect({ Container: running.id })
    await expect(connectRunning).rejects.toMatchObject({ statusCode: 500 })
    await expect(connectRunning).rejects.toThrow(/must be stopped to connect/)
    // dockerd itself would have connected it.
    expect((await upstream.getContainer(running.id).inspect()).NetworkSettings.Networks).not.toHaveProperty(name('net'))
  })

  it('refuses to remove a network while containers are attached, created or running', async () => {
    const p = await proxy()
    const docker = client(p)
    const idle = await createNetwork('idle')
    const busy = await createNetwork('busy')
    // dockerd would remove a network whose only container is created but not started.
    const created = await upstream.createContainer({
      name: name('created'),
      Image: IMAGE,
      NetworkingConfig: { EndpointsConfig: { [name('idle')]: {} } },
    })
    const running = await upstream.createContainer({
      name: name('running'),
      Image: IMAGE,
      NetworkingConfig: { EndpointsConfig: { [name('busy')]: {} } },
    })
    await running.start()

    for (const network of [idle, busy]) {
      const remove = docker.getNetwork(network.id).remove()
      await expect(remove).rejects.toMatchObject({ statusCode: 403 })
      await expect(remove).rejects.toThrow(/has active endpoints .*remove the containers first/)
      await expect(upstream.getNetwork(network.id).inspect()).resolves.toBeTruthy()
    }

    await created.remove({ force: true })
    await running.remove({ force: true })
    await docker.getNetwork(idle.id).remove()
    await docker.getNetwork(busy.id).remove()
    await expect(upstream.getNetwork(idle.id).inspect()).rejects.toMatchObject({ statusCode: 404 })
  })

  it('does not implement network disconnect or prune', async () => {
    const p = await proxy()
    const docker = client(p)
    const network = await createNetwork('net')
    const container = await upstream.createContainer({
      name: name('attached'),
      Image: IMAGE,
      NetworkingConfig: { EndpointsConfig: { [name('net')]: {} } },
    })

    const disconnect = docker.getNetwork(network.id).disconnect({ Container: container.id })
    await expect(disconnect).rejects.toMatchObject({ statusCode: 500 })
    await expect(disconnect).rejects.toThrow(/does not implement/)
    expect((await upstream.getContainer(container.id).inspect()).NetworkSettings.Networks).toHaveProperty(name('net'))

    await expect(docker.pruneNetworks()).rejects.toMatchObject({ statusCode: 500 })
    await container.remove({ force: true })
    await expect(docker.pruneNetworks()).rejects.toThrow(/does not implement/)
    await expect(upstream.getNetwork(network.id).inspect()).resolves.toBeTruthy()
  })

  it('blanks the top-level IPAddress in inspect and keeps the per-network addresses', async () => {
    const p = await proxy()
    const container = await upstream.createContainer({ name: name('ip'), Image: IMAGE })
    await container.start()
    const direct = await upstream.getContainer(container.id).inspect()
    expect(topLevelIp(direct)).toMatch(/^\d+\.\d+\.\d+\.\d+$/)

    const viaVch = await client(p).getContainer(container.id).inspect()
    expect(topLevelIp(viaVch)).toBe('')
    expect(viaVch.NetworkSettings.Networks.bridge.IPAddress).toBe(direct.NetworkSettings.Networks.bridge.IPAddress)
    expect(viaVch.NetworkSettings.Networks.bridge.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
  })

  it('delays each container start, concurrent starts in parallel', async () => {
    const delay = 2000
    const p = await proxy({ startDelayMs: delay })
    const docker = client(p)
    const [a, b] = await Promise.all(['a', 'b'].map((s) => docker.createContainer({ name: name(s), Image: IMAGE })))

    const t0 = Date.now()
    await Promise.all([a.start(), b.start()])
    const elapsed = Date.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(delay)
    expect(elapsed).toBeLessThan(2 * delay)
    expect((await upstream.getContainer(a.id).inspect()).State.Running).toBe(true)
    expect((await upstream.getContainer(b.id).inspect()).State.Running).toBe(true)
  })

  it('creates volumes in a volume store it lists in /info, with the vsphere driver or its alias local, and refuses other stores and drivers', async () => {
    const p = await proxy({ volumeStores: ['default', 'fast'] })
    expect((await client(p).info()).SystemStatus).toContainEqual(['VolumeStores', 'default fast'])
    const labels = { [`${PREFIX}.test`]: 'yes' }
    await client(p).createVolume({ Name: name('v1'), Driver: 'vsphere', DriverOpts: { VolumeStore: 'default', Capacity: '2GB' }, Labels: labels })
    await client(p).createVolume({ Name: name('v2'), Driver: 'local', DriverOpts: { VolumeStore: 'fast' }, Labels: labels })
    const listed = (await client(p).listVolumes({ filters: JSON.stringify({ label: [`${PREFIX}.test=yes`] }) })).Volumes.map((v) => v.Name)
    expect(listed.sort()).toEqual([name('v1'), name('v2')])
    const refused = await raw(p, 'POST', '/volumes/create', { Name: name('v3'), Driver: 'local', DriverOpts: { VolumeStore: 'slow' } })
    expect([refused.status, refused.json.message, refused.headers['x-vch-proxy']]).toEqual([500, 'No volume store named (slow) exists', 'volume-store'])
    const plugin = await raw(p, 'POST', '/volumes/create', { Name: name('v4'), Driver: 'nfs' })
    expect(plugin.json.message).toBe('Error looking up volume plugin nfs: plugin not found')
    const none = await proxy({ volumeStores: [] })
    expect((await raw(none, 'POST', '/volumes/create', { Name: name('v5') })).json.message).toBe('No volume store named (default) exists')
  })

  it('drops the restart policy and the health check at create', async () => {
    const p = await proxy()
    const spec = {
      Image: IMAGE,
      Healthcheck: { Test: ['CMD', 'true'], Interval: 1_000_000_000 },
      HostConfig: { RestartPolicy: { Name: 'always' } },
    }
    const viaVch = await client(p).createContainer({ ...spec, name: name('vch') })
    const direct = await upstream.createContainer({ ...spec, name: name('direct') })

    const applied = await upstream.getContainer(viaVch.id).inspect()
    expect(['', 'no']).toContain(applied.HostConfig.RestartPolicy?.Name ?? '')
    expect(applied.Config.Healthcheck).toBeUndefined()
    // The same spec sent straight to dockerd keeps both.
    const kept = await upstream.getContainer(direct.id).inspect()
    expect(kept.HostConfig.RestartPolicy?.Name).toBe('always')
    expect(kept.Config.Healthcheck?.Test).toEqual(['CMD', 'true'])
  })

  it('keeps ports below 1024 for root, as a containerVM does, whatever sysctl, capability or privilege is asked for', async () => {
    const p = await proxy()
    const asked = {
      Image: IMAGE,
      User: '99',
      Cmd: ['httpd', '-f', '-p', '80', '-h', '/www'],
      HostConfig: { Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' }, CapAdd: ['NET_BIND_SERVICE'], Privileged: true },
    }
    const viaVch = await client(p).createContainer({ ...asked, name: name('vch') })
    const applied = (await upstream.getContainer(viaVch.id).inspect()).HostConfig
    expect(applied.Sysctls).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '1024' })
    expect(applied.CapAdd ?? []).toEqual([])
    expect(applied.Privileged).toBe(false)
    await viaVch.start()
    const exited = await waitForExit(viaVch)
    expect(exited.ExitCode).not.toBe(0)
    expect((await viaVch.logs({ stdout: true, stderr: true })).toString('latin1')).toMatch(/bind: Permission denied/)

    // Root may bind there; so may uid 99 when the same spec goes straight to dockerd.
    const asRoot = await client(p).createContainer({ ...asked, User: '0', name: name('root') })
    const direct = await upstream.createContainer({ ...asked, HostConfig: {}, name: name('direct') })
    for (const container of [asRoot, direct]) {
      await container.start()
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect((await container.inspect()).State.Running).toBe(true)
    }
  })

  it('runs an exec as root unless a user is named, where dockerd takes the container user', async () => {
    const p = await proxy()
    const container = await client(p).createContainer({ name: name('exec'), Image: IMAGE, User: '99', Cmd: ['sleep', '600'] })
    await container.start()
    const unnamed = await client(p)
      .getContainer(container.id)
      .exec({ Cmd: ['true'] })
    expect((await upstream.getExec(unnamed.id).inspect()).ProcessConfig.user).toBe('0')
    const named = await client(p)
      .getContainer(container.id)
      .exec({ Cmd: ['true'], User: '99' })
    expect((await upstream.getExec(named.id).inspect()).ProcessConfig.user).toBe('99')
    const direct = await upstream.getContainer(container.id).exec({ Cmd: ['true'] })
    expect((await upstream.getExec(direct.id).inspect()).ProcessConfig.user).toBe('99')
  })

  it('refuses a listed pull inside a 200 progress stream, forwards other pulls', async () => {
    const p = await proxy({ refusePullImages: ['vchp-private/app:1'] })
    const docker = client(p)

    // dockerode resolves pull() once the 200 stream starts; the refusal is an event in it.
    const stream = await docker.pull('vchp-private/app:1')
    const events = await new Promise<any[]>((resolve, reject) => docker.modem.followProgress(stream, (err, out) => (err ? reject(err) : resolve(out))))
    expect(events[0]).toHaveProperty('status')
    const last = events.at(-1)
    expect(last.error).toMatch(/pull access denied|repository does not exist/)
    expect(last.errorDetail.message).toBe(last.error)

    // The docker CLI qualifies names: docker.io/vchp-private/app is the same image.
    const qualified = await raw(p, 'POST', '/v1.25/images/create?fromImage=docker.io%2Fvchp-private%2Fapp&tag=1')
    expect(qualified.status).toBe(200)
    expect(qualified.text).toMatch(/"error":"pull access denied/)

    // Anything else reaches dockerd (an invalid reference fails there at once, offline).
    const other = await raw(p, 'POST', '/v1.25/images/create?fromImage=vchp-private%2FUPPER&tag=1')
    expect(other.status).toBe(400)
    expect(other.headers['x-vch-proxy']).toBeUndefined()
    expect(other.json.message).toMatch(/invalid reference format/)
  })

  it('forwards the rest verbatim: archive put/get before start, logs, hijacked exec', async () => {
    const p = await proxy()
    const docker = client(p)
    const container = await docker.createContainer({
      name: name('cp'),
      Image: IMAGE,
      Cmd: ['sh', '-c', 'cat /tmp/hello.txt; exec sleep 600'],
    })

    const dir = mkdtempSync(path.join(tmpdir(), `${PREFIX}-cp-`))
    const content = `hello ${PREFIX}\n`
    try {
      writeFileSync(path.join(dir, 'hello.txt'), content)
      // A stream body goes out with chunked transfer encoding.
      await container.putArchive(tarOf(dir, 'hello.txt'), { path: '/tmp' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    const stat = await raw(p, 'HEAD', `/v1.25/containers/${container.id}/archive?path=%2Ftmp%2Fhello.txt`)
    expect(stat.status).toBe(200)
    const pathStat = JSON.parse(Buffer.from(String(stat.headers['x-docker-container-path-stat']), 'base64').toString())
    expect(pathStat).toMatchObject({ name: 'hello.txt', size: content.length })
    const tar = await readAll(await container.getArchive({ path: '/tmp/hello.txt' }))
    expect(tar.toString('latin1')).toContain(content)

    await container.start()
    let logs = ''
    for (let i = 0; i < 50 && !logs.includes(content); i++) {
      logs = (await container.logs({ stdout: true, stderr: true, follow: false })).toString('latin1')
      if (!logs.includes(content)) await new Promise((r) => setTimeout(r, 100))
    }
    expect(logs).toContain(content)

    const exec = await container.exec({ Cmd: ['echo', 'exec-ok'], AttachStdout: true, AttachStderr: true })
    const output = await readAll(await exec.start({ hijack: true, stdin: false }))
    expect(output.toString('latin1')).toContain('exec-ok')
  })
})

describe('engine29 mode', () => {
  it('answers /version with API 1.44 and refuses older clients, not unversioned ones', async () => {
    const p = await proxy({ mode: 'engine29' })

    const version = await raw(p, 'GET', '/version')
    expect(version.json).toMatchObject({ ApiVersion: '1.44', MinAPIVersion: '1.44' })
    expect((await raw(p, 'GET', '/v1.41/version')).status).toBe(200)
    expect((await raw(p, 'GET', '/v1.50/_ping')).text).toBe('OK')
    expect((await raw(p, 'HEAD', '/_ping')).headers['api-version']).toBe('1.44')

    const tooOld = await raw(p, 'GET', '/v1.41/containers/json')
    expect(tooOld.status).toBe(400)
    expect(tooOld.json).toEqual({
      message: 'client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version',
    })
    await expect(client(p, 'v1.25').listContainers()).rejects.toMatchObject({ statusCode: 400 })

    // dockerd takes an unversioned request as its own version.
    expect((await raw(p, 'GET', '/containers/json')).status).toBe(200)
    expect(await client(p, 'v1.44').listContainers({ all: true })).toBeInstanceOf(Array)
  })

  it('has none of the VCH behaviours', async () => {
    const p = await proxy({ mode: 'engine29', startDelayMs: 5000 })
    const docker = client(p, 'v1.44')
    const container = await docker.createContainer({
      name: name('e29'),
      Image: IMAGE,
      HostConfig: { RestartPolicy: { Name: 'always' } },
    })
    const t0 = Date.now()
    await container.start()
    expect(Date.now() - t0).toBeLessThan(5000)
    const inspect = await container.inspect()
    expect(inspect.HostConfig.RestartPolicy?.Name).toBe('always')
    expect(topLevelIp(inspect)).not.toBe('')
    expect((await docker.info()).ID).not.toBe('vSphere Integrated Containers')
  })
})
