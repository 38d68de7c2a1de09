import type { ContainerDetails, ContainerSpec, ContainerSummary, DockerHost, NetworkSummary, ProcessList, VolumeSummary } from '../src/docker/deploy-host'
import type { FileOwner } from '../src/docker/archive'
import { detectHost, type HostProfile } from '../src/docker/host-profile'
import { newStatsAuth } from '../src/haproxy/stats-auth'
import { STATS_CERTIFICATE_PATH, type LbConfig } from '../src/haproxy/config'
import { newStatsCertificate } from '../src/haproxy/stats-certificate'
import type { DeploySettings } from '../src/inputs'
import type { DeployPlan } from '../src/plan'
import type { DeploymentState } from '../src/docker/state'
import type { ServicesPlan } from '../src/services/plan'
import type { Expectation } from '../src/readiness'
import type { ServerStatus } from '../src/haproxy/stats'
import { useLog, type Log } from '../src/log'
import type { UnsettledDeploy } from '../src/state-helper'
import { UndoRecord, type StepContext } from '../src/steps/context'
import { OwnLoadBalancer } from '../src/steps/own-load-balancer'
import { DEFAULT_TIMEOUTS } from '../test-support/haproxy-check'

// An in-memory Docker host for the deploy's steps: it records every call by container name, in
// the order made (`create web-1`, `start lb`, `put lb /usr/local/etc/haproxy/haproxy.cfg`), and
// fails the call it is told to fail, the next time it is made.

export interface FakeContainer {
  id: string
  name: string
  running: boolean
  restarting?: boolean
  // What the list says, where it lags behind inspect (a crash loop flips between the two states).
  listedAs?: string
  exitCode?: number
  labels?: Record<string, string>
  created?: Date
  user?: string
  env?: string[]
  logs?: string
  spec?: ContainerSpec
  files: Map<string, string>
}

export class FakeHost implements DockerHost {
  calls: string[] = []
  containers = new Map<string, FakeContainer>()
  networks = new Map<string, string>()
  networkLabels = new Map<string, Record<string, string>>()
  // Volumes by name, with their labels, driver and options.
  volumes = new Map<string, { labels: Record<string, string>; driver: string; options: Record<string, string> }>()
  // What a VCH's GET /info lists as its volume stores; undefined as on dockerd.
  stores?: string[]
  cpus = 2
  // Answers a name clash as Podman does.
  podman = false
  // References of the images on the host (the ID is `sha256:` and the reference).
  images: string[] = []
  // What a pull of a reference does: nothing (the default), or fail with this error.
  pullFailures = new Map<string, Error>()
  // What `haproxy -c` answers, and the process lists the load-balancer shows, one per call (the last repeats).
  check = { exitCode: 0 as number | null, output: 'Configuration file is valid\n' }
  processLists: ProcessList[] = []
  // What a container of that name does once started when it ends by itself (a release command):
  // it exits with this code, having written these logs. Any other runs until it is removed.
  exits = new Map<string, { exitCode: number; logs?: string }>()
  // The most starts under way at once.
  mostAtOnce = 0
  private startsUnderWay = 0
  private failures = new Map<string, Error>()
  private nextId = 1

  // The call (as recorded) fails with this error, once.
  fail(call: string, error: Error = new Error(`${call} failed`)): void {
    this.failures.set(call, error)
  }

  add(container: Partial<FakeContainer> & { name: string }): string {
    const id = container.id ?? `id-${container.name}`
    this.containers.set(id, { id, running: true, files: new Map(), ...container })
    return id
  }

  byName(name: string): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.name === name)
  }

  private container(idOrName: string): FakeContainer {
    const found = this.containers.get(idOrName) ?? this.byName(idOrName)
    if (!found) throw Object.assign(new Error(`No such container: ${idOrName}`), { statusCode: 404 })
    return found
  }

  private async call(call: string): Promise<void> {
    this.calls.push(call)
    // Every call answers after the others made at the same moment have been made, as over a socket.
    await new Promise((resolve) => setImmediate(resolve))
    const failure = this.failures.get(call)
    this.failures.delete(call)
    if (failure) throw failure
  }

  async createNetwork(name: string, labels: Record<string, string> = {}): Promise<string> {
    await this.call(`create network ${name}`)
    const id = `net-${name}`
    this.networks.set(id, name)
    this.networkLabels.set(id, labels)
    return id
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    await this.call(`create ${spec.name}`)
    // A name is given once: dockerd answers 409, Podman 500 (host-profile.ts isNameClash).
    const holder = this.byName(spec.name)
    if (holder && this.podman)
      throw Object.assign(
        new Error(
          `container create: the container name "${spec.name}" is already in use by ${holder.id}. You have to remove that container to be able to reuse that name: that name is already in use`,
        ),
        {
          statusCode: 500,
        },
      )
    if (holder) throw Object.assign(new Error(`Conflict. The container name "/${spec.name}" is already in use`), { statusCode: 409 })
    const id = `new-${this.nextId++}`
    this.containers.set(id, {
      id,
      name: spec.name,
      running: false,
      labels: spec.Labels,
      user: spec.User,
      env: spec.Env,
      spec,
      files: new Map(),
      created: new Date(),
    })
    return id
  }

  async connect(network: string, container: string): Promise<void> {
    await this.call(`connect ${this.container(container).name} to ${network}`)
  }

  async start(id: string): Promise<void> {
    const container = this.container(id)
    this.startsUnderWay++
    this.mostAtOnce = Math.max(this.mostAtOnce, this.startsUnderWay)
    try {
      await this.call(`start ${container.name}`)
      container.running = true
    } finally {
      this.startsUnderWay--
    }
  }

  async stop(id: string, timeoutS: number): Promise<void> {
    const container = this.container(id)
    await this.call(`stop ${container.name} ${timeoutS}s`)
    container.running = false
  }

  async rename(id: string, name: string): Promise<void> {
    const container = this.container(id)
    await this.call(`rename ${container.name} ${name}`)
    container.name = name
  }

  async inspect(id: string): Promise<ContainerDetails> {
    const c = this.container(id)
    return {
      Id: c.id,
      Name: `/${c.name}`,
      Created: (c.created ?? new Date('2026-01-01T00:00:00Z')).toISOString(),
      Config: { User: c.user, Env: c.env, Labels: c.labels },
      State: {
        Status: c.restarting ? 'restarting' : c.running ? 'running' : 'exited',
        Running: c.running,
        Restarting: !!c.restarting,
        ExitCode: c.exitCode ?? 0,
      },
      NetworkSettings: { Networks: {}, Ports: c.running && !c.restarting ? { '8404/tcp': [{ HostPort: '32768' }] } : {} },
    }
  }

  async listContainers(labels: string[]): Promise<ContainerSummary[]> {
    return [...this.containers.values()]
      .filter((c) => hasLabels(c.labels, labels))
      .map((c) => ({ id: c.id, name: c.name, running: c.running && !c.restarting, labels: c.labels ?? {}, created: c.created ?? new Date() }))
  }

  async listNetworks(labels: string[]): Promise<NetworkSummary[]> {
    return [...this.networks]
      .filter(([id]) => hasLabels(this.networkLabels.get(id), labels))
      .map(([id, name]) => ({ id, name, labels: this.networkLabels.get(id) ?? {}, created: new Date() }))
  }

  async listVolumes(labels: string[]): Promise<VolumeSummary[]> {
    return [...this.volumes].filter(([, v]) => hasLabels(v.labels, labels)).map(([name, v]) => ({ name, labels: v.labels }))
  }

  async createVolume(name: string, driver: string, options: Record<string, string>, labels: Record<string, string>): Promise<string> {
    await this.call(`create volume ${name}`)
    this.volumes.set(name, { labels, driver, options })
    return name
  }

  async volumeStores(): Promise<string[] | undefined> {
    return this.stores
  }

  async labelsOf(kind: 'container' | 'network', name: string): Promise<Record<string, string> | undefined> {
    if (kind === 'container') return this.byName(name) && (this.byName(name)!.labels ?? {})
    const id = [...this.networks].find(([, n]) => n === name)?.[0]
    return id === undefined ? undefined : (this.networkLabels.get(id) ?? {})
  }

  async cpuCount(): Promise<number> {
    return this.cpus
  }

  async listStopped(_deployment: string, statuses: string[]): Promise<{ id: string; name: string }[]> {
    return [...this.containers.values()]
      .filter((c) => statuses.includes(c.listedAs ?? (c.restarting ? 'restarting' : c.running ? 'running' : 'exited')))
      .map((c) => ({ id: c.id, name: c.name }))
  }

  async recentLogs(id: string): Promise<string> {
    return this.container(id).logs ?? ''
  }

  async wait(id: string, signal?: AbortSignal): Promise<number> {
    const container = this.container(id)
    await this.call(`wait ${container.name}`)
    const exit = this.exits.get(container.name)
    if (!exit)
      return new Promise((_, reject) => {
        if (signal?.aborted) return reject(signal.reason)
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    Object.assign(container, { running: false, exitCode: exit.exitCode, logs: exit.logs })
    return exit.exitCode
  }

  async remove(containers: string[], networks: string[], volumes: string[] = []): Promise<string[]> {
    const failures: string[] = []
    for (const id of containers) {
      const name = this.containers.get(id)?.name ?? id
      await this.call(`remove ${name}`).then(
        () => this.containers.delete(id),
        (error: Error) => failures.push(`container ${name}: ${error.message}`),
      )
    }
    for (const id of networks) {
      await this.call(`remove network ${this.networks.get(id)}`).then(
        () => this.networks.delete(id),
        (error: Error) => failures.push(`network ${id}: ${error.message}`),
      )
    }
    for (const name of volumes) {
      await this.call(`remove volume ${name}`).then(
        () => this.volumes.delete(name),
        (error: Error) => failures.push(`volume ${name}: ${error.message}`),
      )
    }
    return failures
  }

  async getFile(id: string, path: string): Promise<string | undefined> {
    return this.container(id).files.get(path)
  }

  async getFiles(id: string, dir: string): Promise<Map<string, string>> {
    return this.filesIn(id, dir)
  }

  filesIn(id: string, dir: string): Map<string, string> {
    const inside = `${dir.replace(/\/$/, '')}/`
    const files = [...this.container(id).files].filter(([path]) => path.startsWith(inside) && !path.slice(inside.length).includes('/'))
    return new Map(files.map(([path, content]) => [path.slice(inside.length), content]))
  }

  async putFile(id: string, dir: string, name: string, content: string): Promise<void> {
    const container = this.container(id)
    const path = `${dir.replace(/\/$/, '')}/${name}`
    await this.call(`put ${container.name} ${path}`)
    container.files.set(path, content)
  }

  async hasPath(): Promise<boolean> {
    return true
  }

  async processOwner(): Promise<FileOwner> {
    return { uid: 99, gid: 99 }
  }

  async exec(id: string, cmd: string[], user: string): Promise<{ exitCode: number | null; output: string }> {
    await this.call(`exec ${this.container(id).name} ${cmd.join(' ')} as ${user || 'the container user'}`)
    return this.check
  }

  async signal(id: string, signal: string): Promise<void> {
    await this.call(`signal ${this.container(id).name} ${signal}`)
  }

  async processes(id: string): Promise<ProcessList> {
    await this.call(`top ${this.container(id).name}`)
    return this.processLists.shift() ?? { Titles: ['PID', 'PPID', 'COMMAND'], Processes: [] }
  }

  async removeContainer(id: string): Promise<boolean> {
    const found = this.containers.get(id) ?? this.byName(id)
    await this.call(`remove ${found?.name ?? id}`)
    return !!found && this.containers.delete(found.id)
  }

  async imageId(reference: string): Promise<string | undefined> {
    return this.images.includes(reference) ? `sha256:${reference}` : undefined
  }

  async anyImageId(): Promise<string | undefined> {
    return this.images[0] && `sha256:${this.images[0]}`
  }

  async pull(reference: string, _auth: string | undefined, onStatus: (status: string) => void): Promise<void> {
    await this.call(`pull ${reference}`)
    const failure = this.pullFailures.get(reference)
    if (failure) throw failure
    onStatus('Pull complete')
    if (!this.images.includes(reference)) this.images.push(reference)
  }
}

function hasLabels(have: Record<string, string> | undefined, wanted: string[]): boolean {
  return wanted.every((label) => {
    const [key, value] = label.split('=')
    return value === undefined ? have?.[key] !== undefined : have?.[key] === value
  })
}

const DOCKERD: HostProfile = detectHost({ ApiVersion: '1.47', Version: '27.5.1' }, {})

const SETTINGS: DeploySettings = {
  image: 'nginx:1.27',
  instances: 3,
  instancePort: 80,
  lbPort: 8081,
  instancePrefix: 'web',
  owner: 'local',
  lbName: 'web-lb',
  externalNetwork: '',
  haproxyImage: 'haproxy:3.0',
  protocol: 'http',
  healthCheckPath: '/',
  waitTimeoutSeconds: 60,
  instanceConfig: { env: [], secretEnv: [] },
  pull: 'missing',
  timeouts: DEFAULT_TIMEOUTS,
  services: [],
}

// Made once: every test's load-balancer may share it.
const STATS_CERTIFICATE = newStatsCertificate('vic-lb stats test')

export function lbConfigFor(plan: DeployPlan): LbConfig {
  return {
    protocol: 'http',
    listenPort: 8080,
    servicePort: SETTINGS.lbPort,
    timeouts: DEFAULT_TIMEOUTS,
    healthCheckPath: '/',
    serving: plan.serving,
    candidates: [],
    statsAuth: newStatsAuth(),
    // A kept load-balancer has its certificate already, as one made by this version does.
    statsCertificate: { ...STATS_CERTIFICATE, inside: plan.lb === 'keep' },
    statsCertificateFile: STATS_CERTIFICATE_PATH,
  }
}

// A deploy's context on the fake host; readiness answers at once unless a test says otherwise.
export function contextOf(
  host: FakeHost,
  plan: DeployPlan,
  options: {
    settings?: Partial<DeploySettings>
    profile?: Partial<HostProfile>
    services?: ServicesPlan
    signal?: AbortSignal
    ready?: (expectation: Expectation) => Promise<ServerStatus[]>
    // Whether a load-balancer started again answers (waitUntilListening).
    listening?: boolean
  } = {},
) {
  const remembered: (UnsettledDeploy | undefined)[] = []
  const waits: Expectation[] = []
  // Where the undo waited for a load-balancer it started again to listen.
  const listens: string[] = []
  const settings = { ...SETTINGS, ...options.settings }
  const ctx: StepContext = {
    host,
    profile: { ...DOCKERD, ...options.profile },
    publishedHost: '127.0.0.1',
    settings,
    plan,
    services: options.services ?? noServices(),
    netName: 'web-net',
    deadline: Date.now() + 60_000,
    signal: options.signal,
    record: new UndoRecord(settings, (deploy) => remembered.push(deploy)),
    waitUntilServing: async (_endpoints, expectation) => {
      waits.push(expectation)
      return options.ready ? options.ready(expectation) : []
    },
    waitUntilListening: async (ip, statsPort) => {
      listens.push(`${ip}:${statsPort}`)
      return options.listening ?? true
    },
  }
  return { ctx, remembered, waits, listens }
}

// The deployment's own load-balancer in a test's context, as deploy.ts makes it but with the test's
// configuration, the deployment's objects as listed and what a kept one's CONFIG_DIR holds.
export function ownLbOf(
  ctx: StepContext,
  lbConfig: LbConfig = lbConfigFor(ctx.plan),
  state: DeploymentState = { instances: [], networks: [], services: [], volumes: [] },
  keptFiles = new Map<string, string>(),
): OwnLoadBalancer {
  return new OwnLoadBalancer(ctx, 'spec-1', lbConfig, state, keptFiles)
}

export function noServices(): ServicesPlan {
  return { keep: [], start: [], removeFirst: [], removeAfter: [], removeVolumesAfter: [], checked: [] }
}

export function emptyPlan(change: Partial<DeployPlan> = {}): DeployPlan {
  return { generation: 'g2', createNetwork: false, removeFirst: [], create: [], serving: [], removeAfter: [], lb: 'keep', ...change }
}

// What the steps print, instead of the runner's log.
export function recordLog(): string[] {
  const lines: string[] = []
  const log: Log = {
    info: (m) => lines.push(m),
    quote: (text) => lines.push(`quoted: ${text}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    debug: () => {},
    group: async (name, fn) => {
      lines.push(`group: ${name}`)
      return fn()
    },
    progress: () => {},
    setSecret: () => {},
    setOutput: () => {},
    setFailed: () => {},
  }
  useLog(log)
  return lines
}
