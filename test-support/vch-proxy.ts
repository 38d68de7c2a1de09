// A stand-in for a vSphere Integrated Containers host (VCH), or for Docker Engine 29, made of an
// HTTP proxy in front of the local dockerd. It answers and refuses the way those daemons do
// (see docs/vic.md) and forwards everything else verbatim, streaming both ways.
//
// Every answer the proxy makes or alters carries an `X-Vch-Proxy: <rule>` header so tests can
// tell its behaviour apart from the upstream daemon's.
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'

export interface VchProxyOptions {
  /** 'vch' mimics a VCH (API 1.25); 'engine29' mimics Docker Engine 29 (API ≥ 1.44 only). */
  mode?: 'vch' | 'engine29'
  upstreamSocket?: string
  /** vch mode: delay before each container start is forwarded (stands in for VM boot). */
  startDelayMs?: number
  /** vch mode: images (fromImage[:tag]; no tag = any tag) whose pull is refused inside a 200 stream. */
  refusePullImages?: string[]
  /** vch mode: what `GET /info` lists in Plugins.Network; default: the upstream's network names. */
  containerNetworks?: string[]
  /** vch mode: the volume stores the VCH has (vic-machine --volume-store labels); default: ['default']. */
  volumeStores?: string[]
  /** Called with one line per request (method, url, status or rule). */
  log?: (line: string) => void
  host?: string
  port?: number
}

export interface VchProxy {
  url: string
  host: string
  port: number
  close(): Promise<void>
}

const VCH = { api: '1.25', minApi: '1.19', server: 'Docker/1.25', version: 'v1.5.8-21620-49f7ba1' }
const ENGINE29 = { api: '1.44', minApi: '1.44', server: 'Docker/29.0.0 (linux)', version: '29.0.0' }
const MIB = 1024 ** 2
const VCH_MEMORY_MIN_MIB = 512
const VCH_DRIVER = `vSphere Integrated Containers ${VCH.version} Backend Engine`

interface Target {
  method: string
  /** Path without the /vX.Y prefix. */
  path: string
  query: URLSearchParams
  /** Version from the /vX.Y prefix, if any. */
  version?: string
  /** Path and query to send upstream. */
  upstreamUrl: string
}

interface Call extends Target {
  req: http.IncomingMessage
  res: http.ServerResponse
}

type Mode = 'vch' | 'engine29'
type Handler = (call: Call, match: RegExpMatchArray) => Promise<void>
interface Route {
  modes: Mode[]
  method: string
  path: RegExp
  handle: Handler
}

class Refusal {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly rule: string,
  ) {}
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

function compareVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number)
  const [bm, bn] = b.split('.').map(Number)
  return am - bm || an - bn
}

function readBody(req: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** docker.io/library/busybox:1 → busybox:1, as the docker CLI qualifies names it pulls. */
function shortName(image: string): string {
  return image.replace(/^(index\.)?docker\.io\//, '').replace(/^library\//, '')
}

/** Clients call these to learn the server's API version, so they are answered at any version. */
const isNegotiation = (path: string) => path === '/_ping' || path === '/version'

function hasBody(req: http.IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
}

function parseJson(buf: Buffer): any {
  try {
    return buf.length ? JSON.parse(buf.toString('utf8')) : {}
  } catch {
    return undefined
  }
}

export async function startVchProxy(opts: VchProxyOptions = {}): Promise<VchProxy> {
  const mode: Mode = opts.mode ?? 'vch'
  const socketPath = opts.upstreamSocket ?? '/var/run/docker.sock'
  const startDelayMs = opts.startDelayMs ?? 3000
  const refusePull = opts.refusePullImages ?? []
  const volumeStores = opts.volumeStores ?? ['default']
  const log = opts.log ?? (() => {})
  const identity = mode === 'vch' ? VCH : ENGINE29

  // Keep-alive matters: on a `Connection: close` request dockerd may close the socket right after
  // answering, while Node still writes the end of a piped body (EPIPE instead of the response).
  const agent = new http.Agent({ keepAlive: true })

  // A request whose body is in memory is retried while dockerd is restarting (socket refused) or
  // when a pooled connection turns out to be dead.
  function sendUpstream(method: string, url: string, headers: http.OutgoingHttpHeaders, body: Buffer | Readable) {
    const deadline = Date.now() + 15_000
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      const attempt = () => {
        const up = http.request({ socketPath, method, path: url, headers: { ...headers, host: 'docker' }, agent })
        up.on('response', resolve)
        up.on('error', (err: NodeJS.ErrnoException) => {
          const retriable = err.code === 'ECONNREFUSED' || err.code === 'ENOENT' || (up.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE'))
          if (retriable && Buffer.isBuffer(body) && Date.now() < deadline) setTimeout(attempt, 250)
          else reject(err)
        })
        if (Buffer.isBuffer(body)) up.end(body)
        else body.pipe(up)
      }
      attempt()
    })
  }

  async function upstreamJson(url: string): Promise<{ status: number; json: any }> {
    const res = await sendUpstream('GET', url, {}, Buffer.alloc(0))
    return { status: res.statusCode ?? 502, json: parseJson(await readBody(res)) }
  }

  function identityHeaders(rule?: string): Record<string, string> {
    const h: Record<string, string> = { server: identity.server, 'api-version': identity.api }
    if (rule) h['x-vch-proxy'] = rule
    return h
  }

  function reply(call: Call, status: number, body: unknown, rule: string) {
    const text = JSON.stringify(body) + '\n'
    call.res.writeHead(status, {
      ...identityHeaders(rule),
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    })
    call.res.end(text)
    log(`${call.method} ${call.req.url} -> ${status} [${rule}]`)
  }

  interface ForwardOptions {
    /** Replaces the request body. */
    body?: Buffer
    /** Rewrites a 2xx JSON response. */
    rewrite?: (json: any) => Promise<void> | void
    rule?: string
  }

  async function forward(call: Call, fw: ForwardOptions = {}) {
    const headers: http.OutgoingHttpHeaders = { ...call.req.headers }
    delete headers.connection
    delete headers['keep-alive']
    let body: Buffer | Readable = call.req
    if (fw.body) {
      delete headers['transfer-encoding']
      headers['content-length'] = fw.body.length
      body = fw.body
    } else if (!hasBody(call.req)) {
      body = Buffer.alloc(0)
    }
    const upRes = await sendUpstream(call.method, call.upstreamUrl, headers, body)
    const status = upRes.statusCode ?? 502
    const resHeaders: http.OutgoingHttpHeaders = { ...upRes.headers, ...identityHeaders(fw.rule) }
    delete resHeaders.connection
    delete resHeaders['keep-alive']
    log(`${call.method} ${call.req.url} -> ${status}${fw.rule ? ` [${fw.rule}]` : ''}`)

    if (fw.rewrite && status >= 200 && status < 300) {
      const json = parseJson(await readBody(upRes))
      if (json !== undefined) await fw.rewrite(json)
      const text = JSON.stringify(json)
      delete resHeaders['transfer-encoding']
      resHeaders['content-length'] = Buffer.byteLength(text)
      call.res.writeHead(status, resHeaders)
      call.res.end(text)
      return
    }
    call.res.writeHead(status, resHeaders)
    call.res.flushHeaders()
    call.res.on('close', () => {
      if (!upRes.complete) upRes.destroy()
    })
    upRes.pipe(call.res)
  }

  async function answerVersion(call: Call) {
    await forward(call, {
      rule: 'version',
      rewrite: (v) => {
        v.ApiVersion = identity.api
        v.MinAPIVersion = identity.minApi
        v.Version = identity.version
        for (const c of v.Components ?? []) {
          if (c.Name !== 'Engine') continue
          c.Version = identity.version
          c.Details = { ...c.Details, ApiVersion: identity.api, MinAPIVersion: identity.minApi }
        }
      },
    })
  }

  // The routing table: one entry per behaviour that differs from the upstream dockerd.
  const routes: Route[] = [
    { modes: ['vch', 'engine29'], method: 'GET', path: /^\/version$/, handle: answerVersion },

    {
      modes: ['vch'],
      method: 'GET',
      path: /^\/info$/,
      handle: (call) =>
        forward(call, {
          rule: 'info',
          rewrite: async (info) => {
            info.ID = 'vSphere Integrated Containers'
            info.Driver = VCH_DRIVER
            info.ServerVersion = VCH.version
            info.OperatingSystem = 'VMware Photon OS/Linux'
            const networks =
              opts.containerNetworks ??
              ((await upstreamJson('/networks')).json ?? []).map((n: { Name: string }) => n.Name).filter((name: string) => name !== 'host' && name !== 'none')
            info.Plugins = { ...info.Plugins, Network: networks }
            // vic v1.5.8 lists its volume stores in SystemStatus, space-separated.
            info.SystemStatus = [...(info.SystemStatus ?? []), ['VolumeStores', volumeStores.join(' ')]]
          },
        }),
    },

    {
      modes: ['vch'],
      method: 'POST',
      path: /^\/containers\/create$/,
      handle: async (call) => {
        const raw = await readBody(call.req)
        const spec = parseJson(raw)
        if (spec === undefined) return forward(call, { body: raw })
        const endpoints = Object.keys(spec.NetworkingConfig?.EndpointsConfig ?? {})
        if (endpoints.length > 1) {
          throw new Refusal(400, `Container cannot be connected to network endpoints: ${endpoints.join(', ')}`, 'create-one-network')
        }
        // A VCH ignores restart policies and health checks, and grants a containerVM no sysctl,
        // capability or privilege: they are simply not applied. It sizes the containerVM from Memory
        // (MiB, rounded up to 128, at least 512) and CPUCount, and ignores NanoCpus and CpuShares
        // (vic v1.5.8).
        const host = spec.HostConfig ?? {}
        const ignored = ['RestartPolicy', 'Sysctls', 'CapAdd', 'Privileged', 'SecurityOpt', 'NanoCpus', 'CpuShares'].filter((field) => host[field])
        const dropped = [...ignored, ...(spec.Healthcheck ? ['Healthcheck'] : [])]
        for (const field of ignored) delete host[field]
        delete spec.Healthcheck
        if (host.Memory) host.Memory = Math.max(VCH_MEMORY_MIN_MIB, Math.ceil(host.Memory / MIB / 128) * 128) * MIB
        // A containerVM's own kernel keeps the default: only root binds a port below 1024 (dockerd
        // 20.10+ would set 0 in the container's network namespace).
        spec.HostConfig = { ...host, Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1024' } }
        await forward(call, {
          body: Buffer.from(JSON.stringify(spec)),
          rule: dropped.length ? `create-dropped:${dropped.join(',')}` : undefined,
        })
      },
    },

    {
      modes: ['vch'],
      method: 'POST',
      path: /^\/volumes\/create$/,
      handle: async (call) => {
        // vic v1.5.8 has one volume driver, `vsphere` (`local` an alias of it), and puts a volume in
        // the store named by the VolumeStore option, `default` when none is given; Capacity sizes
        // it. Labels are kept with the volume and filter lists as on dockerd.
        const raw = await readBody(call.req)
        const spec = parseJson(raw)
        if (spec === undefined) return forward(call, { body: raw })
        const driver = spec.Driver || 'local'
        if (driver !== 'vsphere' && driver !== 'local') throw new Refusal(500, `Error looking up volume plugin ${driver}: plugin not found`, 'volume-driver')
        const { VolumeStore: store = 'default', Capacity: _capacity, ...rest } = spec.DriverOpts ?? {}
        if (!volumeStores.includes(store)) throw new Refusal(500, `No volume store named (${store}) exists`, 'volume-store')
        await forward(call, { body: Buffer.from(JSON.stringify({ ...spec, Driver: 'local', DriverOpts: rest })), rule: `volume-store:${store}` })
      },
    },

    {
      modes: ['vch'],
      method: 'POST',
      path: /^\/containers\/([^/]+)\/exec$/,
      handle: async (call) => {
        // An exec runs as root unless the client names a user; dockerd would take the container's.
        const raw = await readBody(call.req)
        const spec = parseJson(raw)
        if (spec === undefined || spec.User) return forward(call, { body: raw })
        await forward(call, { body: Buffer.from(JSON.stringify({ ...spec, User: '0' })), rule: 'exec-as-root' })
      },
    },

    {
      modes: ['vch'],
      method: 'GET',
      path: /^\/containers\/([^/]+)\/json$/,
      handle: (call) =>
        forward(call, {
          rule: 'inspect-ip',
          rewrite: (c) => {
            if (c.NetworkSettings) c.NetworkSettings.IPAddress = ''
          },
        }),
    },

    {
      modes: ['vch'],
      method: 'POST',
      path: /^\/containers\/([^/]+)\/start$/,
      handle: async (call) => {
        await sleep(startDelayMs)
        await forward(call, { rule: `start-delay:${startDelayMs}` })
      },
    },

    {
      modes: ['vch'],
      method: 'POST',
      path: /^\/networks\/([^/]+)\/connect$/,
      handle: async (call, [, network]) => {
        const raw = await readBody(call.req)
        const container = parseJson(raw)?.Container
        if (typeof container === 'string') {
          const { status, json } = await upstreamJson(`/containers/${encodeURIComponent(container)}/json`)
          if (status === 200 && json.State?.Running) {
            throw new Refusal(
              500,
              `Cannot connect container ${container} to network ${decodeURIComponent(network)}: ` + 'container must be stopped to connect it to a network',
              'connect-running',
            )
          }
        }
        await forward(call, { body: raw })
      },
    },

    {
      modes: ['vch'],
      method: 'POST',
      path: /^\/networks\/(prune|[^/]+\/disconnect)$/,
      handle: async (_call, [, what]) => {
        const operation = what === 'prune' ? 'NetworksPrune' : 'network.DisconnectContainerFromNetwork'
        throw new Refusal(500, `vSphere Integrated Containers does not implement ${operation}`, 'not-implemented')
      },
    },

    {
      modes: ['vch'],
      method: 'DELETE',
      path: /^\/networks\/([^/]+)$/,
      handle: async (call, [, id]) => {
        const { status, json: network } = await upstreamJson(`/networks/${id}`)
        if (status === 200) {
          // dockerd only counts endpoints of running containers; a VCH also counts created ones.
          const attached = new Set<string>(Object.values<{ Name: string }>(network.Containers ?? {}).map((c) => c.Name))
          for (const c of (await upstreamJson('/containers/json?all=1')).json ?? []) {
            const onIt = Object.entries<{ NetworkID?: string }>(c.NetworkSettings?.Networks ?? {}).some(
              ([name, ep]) => name === network.Name || ep.NetworkID === network.Id,
            )
            if (onIt) attached.add(String(c.Names?.[0] ?? c.Id).replace(/^\//, ''))
          }
          if (attached.size) {
            throw new Refusal(
              403,
              `error while removing network: network ${network.Name} id ${network.Id} has active endpoints ` +
                `(${[...attached].join(', ')}); remove the containers first`,
              'network-in-use',
            )
          }
        }
        await forward(call)
      },
    },

    {
      modes: ['vch'],
      method: 'POST',
      path: /^\/images\/create$/,
      handle: async (call) => {
        const from = call.query.get('fromImage')
        const tag = call.query.get('tag')
        const ref = from && tag ? `${from}${tag.startsWith('sha256:') ? '@' : ':'}${tag}` : from
        const refused = (r: string) => [ref, from].some((name) => name && shortName(name) === shortName(r))
        if (!from || !refusePull.some(refused)) return forward(call)
        // Registries refuse inside a 200 progress stream, not with an HTTP error status.
        const message = `pull access denied for ${shortName(from)}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`
        call.res.writeHead(200, { ...identityHeaders('pull-refused'), 'content-type': 'application/json' })
        call.res.write(JSON.stringify({ status: `Pulling from ${shortName(from)}`, id: tag ?? 'latest' }) + '\r\n')
        await sleep(50)
        call.res.end(JSON.stringify({ errorDetail: { message }, error: message }) + '\r\n')
        log(`${call.method} ${call.req.url} -> 200 [pull-refused]`)
      },
    },
  ]

  function parseTarget(req: http.IncomingMessage): Target {
    const url = new URL(req.url ?? '/', 'http://proxy')
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(url.pathname)
    const version = m?.[1]
    const path = m ? m[2] : url.pathname
    // vch: forward the client's version (dockerd accepts ≥ 1.12); engine29: versions ≥ 1.44
    // exceed the upstream's, so send them unversioned (= the upstream's own version), as the
    // negotiation calls, which must work at any version.
    const prefix = version && mode === 'vch' && !isNegotiation(path) ? `/v${version}` : ''
    return { method: req.method ?? 'GET', path, query: url.searchParams, version, upstreamUrl: prefix + path + url.search }
  }

  // Refuses versions the imitated daemon does not speak, as its version middleware does.
  function versionRefusal(target: Target): Refusal | undefined {
    if (isNegotiation(target.path)) return undefined
    // dockerd treats an unversioned request as its own (maximum) version.
    const v = target.version ?? identity.api
    if (compareVersions(v, identity.minApi) < 0) {
      return new Refusal(
        400,
        `client version ${v} is too old. Minimum supported API version is ${identity.minApi}, please upgrade your client to a newer version`,
        'version-too-old',
      )
    }
    if (mode === 'vch' && compareVersions(v, identity.api) > 0) {
      return new Refusal(400, `client version ${v} is too new. Maximum supported API version is ${identity.api}`, 'version-too-new')
    }
    return undefined
  }

  async function handle(call: Call) {
    const refusal = versionRefusal(call)
    if (refusal) throw refusal
    for (const route of routes) {
      if (!route.modes.includes(mode) || route.method !== call.method) continue
      const match = route.path.exec(call.path)
      if (match) return route.handle(call, match)
    }
    return forward(call)
  }

  const server = http.createServer((req, res) => {
    const call: Call = { ...parseTarget(req), req, res }
    handle(call).catch((err: unknown) => {
      const refusal = err instanceof Refusal ? err : new Refusal(502, `vch-proxy: upstream ${socketPath}: ${(err as Error).message}`, 'upstream-error')
      if (!res.headersSent) reply(call, refusal.status, { message: refusal.message }, refusal.rule)
      else res.destroy()
    })
  })
  server.requestTimeout = 0

  // Hijacked connections (attach, exec start with Upgrade: tcp) become a raw byte pipe to dockerd.
  const upgraded = new Set<net.Socket>()
  server.on('upgrade', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = parseTarget(req)
    const refusal = versionRefusal(target)
    if (refusal) {
      const text = JSON.stringify({ message: refusal.message }) + '\n'
      client.end(
        `HTTP/1.1 ${refusal.status} Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
          `X-Vch-Proxy: ${refusal.rule}\r\nConnection: close\r\n\r\n${text}`,
      )
      return
    }
    const up = net.connect({ path: socketPath, allowHalfOpen: true })
    upgraded.add(client).add(up)
    const teardown = () => {
      client.destroy()
      up.destroy()
      upgraded.delete(client)
      upgraded.delete(up)
    }
    up.on('error', teardown).on('close', teardown)
    client.on('error', teardown).on('close', teardown)
    up.on('connect', () => {
      const lines = [`${req.method} ${target.upstreamUrl} HTTP/1.1`, 'Host: docker']
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i].toLowerCase() !== 'host') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
      }
      up.write(lines.join('\r\n') + '\r\n\r\n')
      up.write(head)
      client.pipe(up)
      up.pipe(client)
      log(`${req.method} ${req.url} -> upgraded`)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve())
  })
  const { address: host, port } = server.address() as AddressInfo

  return {
    url: `tcp://${host}:${port}`,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of upgraded) s.destroy()
        server.close(() => resolve())
        server.closeAllConnections()
        agent.destroy()
      }),
  }
}
