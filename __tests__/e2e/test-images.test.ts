import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IMAGES, docker, uniquePrefix } from './harness'

// The offline test images (scripts/build-test-images.sh) do what the other tests take for granted,
// on the engine under test: the web images serve their page on $PORT, crash fails at once, silent
// never answers and stops at once, and the HAProxy image under test balances, reloads on SIGUSR2
// and stops gracefully, running as uid 99 like the official image. Traffic goes only to the
// containers created here, through ports published on 127.0.0.1.

const prefix = uniquePrefix('images')
const network = `${prefix}-net`
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-images-'))
const containers: string[] = []

beforeAll(() => {
  docker('network', 'create', network)
})
afterAll(() => {
  for (const name of containers) docker('rm', '-f', name)
  docker('network', 'rm', network)
  fs.rmSync(work, { recursive: true, force: true })
})

function run(name: string, ...args: string[]): string {
  containers.push(name)
  docker('run', '-d', '--name', name, '--network', network, ...args)
  return docker('inspect', '--format', '{{.Id}}', name).slice(0, 12)
}

// The 127.0.0.1 port a container's port is published on.
function published(name: string, port: number): string {
  const ports = JSON.parse(docker('inspect', '--format', '{{json .NetworkSettings.Ports}}', name)) as Record<string, { HostPort: string }[] | null>
  const binding = ports[`${port}/tcp`]?.[0]
  expect(binding, `${name} publishes no ${port}/tcp`).toBeDefined()
  return `http://127.0.0.1:${binding!.HostPort}/`
}

async function body(url: string): Promise<string> {
  return (await (await fetch(url, { signal: AbortSignal.timeout(3000) })).text()).trim()
}

// Polls until the answer matches (bounded), and returns the last answer.
async function waitForBody(url: string, pattern: RegExp, seconds: number): Promise<string> {
  const deadline = Date.now() + seconds * 1000
  let last = ''
  while (Date.now() < deadline) {
    last = await body(url).catch((error: Error) => `(${error.message})`)
    if (pattern.test(last)) return last
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  return last
}

// `docker stop` with a 10 s grace period: how long it took and the exit code.
function timedStop(name: string): { seconds: number; exitCode: number } {
  const started = Date.now()
  docker('stop', '-t', '10', name)
  return { seconds: (Date.now() - started) / 1000, exitCode: Number(docker('inspect', '--format', '{{.State.ExitCode}}', name)) }
}

// The uids of a container's main process and its children, as this host sees them.
function uidsOf(name: string): number[] {
  const pid = docker('inspect', '--format', '{{.State.Pid}}', name)
  const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean)
  return [pid, ...children].map((p) => Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))![1]))
}

describe('web images', () => {
  it('web:1 serves "web v1 <container id>" on port 80, web:2 "web v2 <container id>" on $PORT, and both stop at once', async () => {
    const w1 = run(`${prefix}-web1`, '-p', '127.0.0.1::80', IMAGES.web1)
    const w2 = run(`${prefix}-web2`, '-p', '127.0.0.1::8081', '-e', 'PORT=8081', IMAGES.web2)
    expect(await waitForBody(published(`${prefix}-web1`, 80), /^web v1 /, 15)).toBe(`web v1 ${w1}`)
    expect(await waitForBody(published(`${prefix}-web2`, 8081), /^web v2 /, 15)).toBe(`web v2 ${w2}`)
    const stop = timedStop(`${prefix}-web1`)
    expect(stop.seconds).toBeLessThan(5)
    expect(stop.exitCode).toBe(0)
  })
})

describe('crash image', () => {
  it('exits 3 at once with "crash: failing on purpose" on stderr', () => {
    const name = `${prefix}-crash`
    containers.push(name)
    let failure: { status?: number; stderr?: string } = {}
    try {
      docker('run', '--name', name, '--network', network, IMAGES.crash)
    } catch (error) {
      failure = error as typeof failure
    }
    expect(failure.status).toBe(3)
    expect(String(failure.stderr)).toContain('crash: failing on purpose')
  })
})

describe('silent image', () => {
  it('keeps running, answers nothing, and stops at once', async () => {
    const name = `${prefix}-silent`
    run(name, '-p', '127.0.0.1::80', IMAGES.silent)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(docker('inspect', '--format', '{{.State.Running}}', name)).toBe('true')
    await expect(body(published(name, 80))).rejects.toThrow()
    const stop = timedStop(name)
    expect(stop.seconds).toBeLessThan(5)
  })
})

describe(`HAProxy image ${IMAGES.haproxy}`, () => {
  const ha = `${prefix}-haproxy`
  const config = (extraPort?: number) =>
    [
      'global',
      '    log stdout format raw local0 notice',
      'defaults',
      '    mode http',
      '    log global',
      '    timeout connect 2s',
      '    timeout client 10s',
      '    timeout server 10s',
      'frontend fe',
      '    bind :8080',
      '    default_backend be',
      'backend be',
      '    balance roundrobin',
      // One server by container name (the engine's DNS), one by address.
      `    server w1 ${prefix}-hw1:80 check inter 1s`,
      `    server w2 ${w2Address}:8081 check inter 1s`,
      ...(extraPort ? ['frontend fe_reloaded', `    bind :${extraPort}`, '    default_backend be'] : []),
      '',
    ].join('\n')
  let ids: string[] = []
  let w2Address = ''
  const install = (text: string) => {
    const file = path.join(work, 'haproxy.cfg')
    fs.writeFileSync(file, text, { mode: 0o644 })
    docker('cp', file, `${ha}:/usr/local/etc/haproxy/haproxy.cfg`)
  }

  it('is shaped like the official image: user 99, STOPSIGNAL SIGUSR1, haproxy -W -db -f /usr/local/etc/haproxy/haproxy.cfg', () => {
    const image = JSON.parse(docker('image', 'inspect', '--format', '{{json .Config}}', IMAGES.haproxy)) as {
      User: string
      StopSignal: string
      WorkingDir: string
      Cmd: string[]
      Entrypoint: string[] | null
    }
    expect(image.User).toBe('99')
    expect(image.StopSignal).toBe('SIGUSR1')
    expect(image.WorkingDir).toBe('/var/lib/haproxy')
    expect([...(image.Entrypoint ?? []), ...image.Cmd]).toEqual(['haproxy', '-W', '-db', '-f', '/usr/local/etc/haproxy/haproxy.cfg'])
  })

  it('runs the HAProxy branch its tag names', () => {
    const branch = /:(\d+\.\d+)$/.exec(IMAGES.haproxy)?.[1]
    expect(branch, 'the HAProxy test image is tagged with its branch').toBeDefined()
    containers.push(`${prefix}-version`)
    expect(docker('run', '--name', `${prefix}-version`, '--network', 'none', IMAGES.haproxy, 'haproxy', '-v')).toMatch(
      new RegExp(`^HAProxy version ${branch!.replace('.', '\\.')}\\.`),
    )
  })

  it('balances over two web containers as uid 99', async () => {
    ids = [run(`${prefix}-hw1`, IMAGES.web1), run(`${prefix}-hw2`, '-e', 'PORT=8081', IMAGES.web2)]
    w2Address = docker('inspect', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, `${prefix}-hw2`)
    containers.push(ha)
    docker('create', '--name', ha, '--network', network, '-p', '127.0.0.1::8080', '-p', '127.0.0.1::8082', IMAGES.haproxy)
    install(config())
    docker('start', ha)
    const url = published(ha, 8080)
    expect(await waitForBody(url, /^web v[12] /, 20)).toMatch(/^web v[12] /)
    const seen = new Set<string>()
    for (let i = 0; i < 6; i++) seen.add(await body(url))
    expect(seen).toEqual(new Set([`web v1 ${ids[0]}`, `web v2 ${ids[1]}`]))
    expect(new Set(uidsOf(ha))).toEqual(new Set([99]))
  })

  it('reloads a new configuration on SIGUSR2 and keeps serving, with the same master', async () => {
    const master = docker('inspect', '--format', '{{.State.Pid}}', ha)
    install(config(8082))
    docker('kill', '-s', 'USR2', ha)
    expect(await waitForBody(published(ha, 8082), /^web v[12] /, 20)).toMatch(/^web v[12] /)
    expect(await waitForBody(published(ha, 8080), /^web v[12] /, 5)).toMatch(/^web v[12] /)
    expect(docker('inspect', '--format', '{{.State.Running}} {{.State.Pid}}', ha)).toBe(`true ${master}`)
  })

  it('stops gracefully on docker stop (SIGUSR1): quickly, with exit code 0', () => {
    const stop = timedStop(ha)
    expect(stop.seconds).toBeLessThan(8)
    expect(stop.exitCode).toBe(0)
  })
})
