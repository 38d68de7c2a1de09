import { PassThrough, Readable } from 'node:stream'
import type Docker from 'dockerode'
import * as tar from 'tar-stream'
import { describe, expect, it, vi } from 'vitest'
import {
  CERTIFICATE_FILE,
  CONFIG_DIR,
  CONFIG_FILE,
  HTTP_KEEP_ALIVE_S,
  PREVIOUS_CERTIFICATE_FILE,
  PREVIOUS_CONFIG_FILE,
  STATS_CERTIFICATE_PATH,
  renderConfigToCheck,
  renderHaproxyConfig,
  type LbConfig,
} from '../src/haproxy/config'
import {
  checkInside,
  drainOldWorkers,
  haproxyWorkers,
  keepPreviousConfig,
  loadConfig,
  putCertificate,
  restorePreviousConfig,
  workerPids,
} from '../src/haproxy/reload'
import { newStatsAuth } from '../src/haproxy/stats-auth'
import { newStatsCertificate } from '../src/haproxy/stats-certificate'
import type { DockerHost } from '../src/docker/deploy-host'
import { dockerodeHost } from '../src/docker/dockerode-host'
import { DEFAULT_TIMEOUTS } from '../test-support/haproxy-check'

// The reload sequence against a stand-in load-balancer container, reached through the real
// dockerodeHost: files as the archive API moves them (tar), signals and exec recorded in the order
// they happen.

function through(container: object): DockerHost {
  return dockerodeHost({ getContainer: () => container } as unknown as Docker)
}

interface StoredFile {
  text: string
  mode: number
  uid: number
  gid: number
}

function standInLb(check: { exitCode: number; output: string } = { exitCode: 0, output: 'Configuration file is valid\n' }) {
  const files = new Map<string, StoredFile>()
  const events: string[] = []
  const lb = {
    async putArchive(archive: Buffer, { path }: { path: string }) {
      const extract = tar.extract()
      const done = new Promise<void>((resolve, reject) => {
        extract.on('entry', (header, stream, next) => {
          const chunks: Buffer[] = []
          stream.on('data', (c) => chunks.push(c as Buffer))
          stream.on('end', () => {
            const file = `${path}/${header.name}`
            files.set(file, { text: Buffer.concat(chunks).toString('utf8'), mode: header.mode ?? 0, uid: header.uid ?? 0, gid: header.gid ?? 0 })
            events.push(`put ${file}`)
            next()
          })
        })
        extract.on('finish', resolve)
        extract.on('error', reject)
      })
      Readable.from([archive]).pipe(extract)
      await done
    },
    async getArchive({ path }: { path: string }) {
      const file = files.get(path)
      if (!file) throw Object.assign(new Error('no such file'), { statusCode: 404 })
      const pack = tar.pack()
      pack.entry({ name: path.split('/').pop()! }, file.text)
      pack.finalize()
      return pack
    },
    async kill({ signal }: { signal: string }) {
      events.push(`kill ${signal}`)
    },
    async inspect() {
      return { Name: '/lb', Config: { User: '' } }
    },
    async exec({ Cmd, User }: { Cmd: string[]; User: string }) {
      events.push(`exec ${Cmd.join(' ')} as ${User || 'the container user'}`)
      return {
        start(_options: unknown, callback: (error: Error | null, stream?: NodeJS.ReadableStream) => void) {
          // Without a TTY the API frames the output: stream type, three zero bytes, length.
          const payload = Buffer.from(check.output)
          const header = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])
          header.writeUInt32BE(payload.length, 4)
          const stream = new PassThrough()
          callback(null, stream)
          stream.end(Buffer.concat([header, payload]))
        },
        async inspect() {
          return { ExitCode: check.exitCode }
        },
      }
    },
  }
  return { host: through(lb), lb: 'lb', files, events }
}

const CONFIG: LbConfig = {
  protocol: 'http',
  listenPort: 8080,
  servicePort: 80,
  timeouts: DEFAULT_TIMEOUTS,
  healthCheckPath: '',
  serving: [{ name: 'web-1', port: 80 }],
  candidates: [],
  statsAuth: newStatsAuth(),
  statsCertificate: newStatsCertificate('vic-lb stats test'),
  statsCertificateFile: STATS_CERTIFICATE_PATH,
}
const LIVE = `${CONFIG_DIR}/${CONFIG_FILE}`

describe('loadConfig', () => {
  it('copies the configuration in, then signals the master to reload', async () => {
    const { host, lb, files, events } = standInLb()
    await loadConfig(host, lb, 'global\n')
    expect(files.get(LIVE)).toMatchObject({ text: 'global\n', mode: 0o644 })
    expect(events).toEqual([`put ${LIVE}`, 'kill SIGUSR2'])
  })
})

describe('checkInside', () => {
  it("runs the load-balancer's own haproxy -c on a copy that looks no name up, as the given user", async () => {
    const { host, lb, files, events } = standInLb()
    await checkInside(host, lb, 'lb', 'root', renderConfigToCheck(CONFIG))
    const candidate = files.get('/tmp/haproxy-candidate.cfg')!.text
    expect(candidate).toContain(' init-addr none')
    expect(candidate.replace(/ init-addr none$/m, ' init-addr last,libc,none')).toBe(renderHaproxyConfig(CONFIG))
    expect(events).toEqual(['put /tmp/haproxy-candidate.cfg', 'exec haproxy -c -f /tmp/haproxy-candidate.cfg as root'])
  })

  it("refuses a configuration HAProxy rejects, with HAProxy's words, and touches the live one not", async () => {
    const { host, lb, files, events } = standInLb({ exitCode: 1, output: "[ALERT] config : parsing [x:1] : unknown keyword 'bogus'\n" })
    await expect(checkInside(host, lb, 'pr-7-lb', '', renderConfigToCheck(CONFIG))).rejects.toThrow(
      /^HAProxy in pr-7-lb rejected the new configuration \(haproxy -c exit code 1\); the running one stays in use:\n\[ALERT\].*unknown keyword 'bogus'$/,
    )
    expect(files.has(LIVE)).toBe(false)
    expect(events.some((e) => e.startsWith('kill'))).toBe(false)
  })
})

describe('keepPreviousConfig and restorePreviousConfig', () => {
  it('put back what was kept, with a reload', async () => {
    const { host, lb, files, events } = standInLb()
    await keepPreviousConfig(host, lb, 'the old one\n', undefined)
    await loadConfig(host, lb, 'the new one\n')
    expect(await restorePreviousConfig(host, lb)).toBe(true)
    expect(files.get(LIVE)!.text).toBe('the old one\n')
    expect(events).toEqual([`put ${CONFIG_DIR}/${PREVIOUS_CONFIG_FILE}`, `put ${LIVE}`, 'kill SIGUSR2', `put ${LIVE}`, 'kill SIGUSR2'])
  })

  it('put back the certificate that was kept with the configuration, readable by HAProxy alone', async () => {
    const { host, lb, files } = standInLb()
    await keepPreviousConfig(host, lb, 'the old one\n', 'OLD PEM\n')
    await putCertificate(host, lb, 'service', 'NEW PEM\n', 'pr-7-lb')
    await loadConfig(host, lb, 'the new one\n')
    expect(await restorePreviousConfig(host, lb)).toBe(true)
    expect(files.get(`${CONFIG_DIR}/${CERTIFICATE_FILE}`)).toMatchObject({ text: 'OLD PEM\n', mode: 0o400 })
    expect(files.get(`${CONFIG_DIR}/${PREVIOUS_CERTIFICATE_FILE}`)).toMatchObject({ mode: 0o400 })
    expect(files.get(LIVE)!.text).toBe('the old one\n')
  })

  it('do nothing when nothing was kept', async () => {
    const { host, lb, events } = standInLb()
    expect(await restorePreviousConfig(host, lb)).toBe(false)
    expect(events).toEqual([])
  })
})

describe('putCertificate', () => {
  it('gives the PEM to the user HAProxy runs as, readable by it alone', async () => {
    const { host, lb, files } = standInLb()
    await putCertificate(host, lb, 'service', '-----BEGIN CERTIFICATE-----\n', 'lb')
    expect(files.get(`${CONFIG_DIR}/${CERTIFICATE_FILE}`)).toEqual({ text: '-----BEGIN CERTIFICATE-----\n', mode: 0o400, uid: 0, gid: 0 })
  })
})

// GET /containers/{id}/top as dockerd answers `-o pid,ppid,comm` (host PIDs; the master's parent is
// the shim) and Podman answers `pid,ppid,comm` (the container's PIDs).
const DOCKERD_TOP = {
  Titles: ['PID', 'PPID', 'COMMAND'],
  Processes: [
    ['20302', '20283', 'haproxy'],
    ['20332', '20302', 'haproxy'],
    ['20367', '20302', 'haproxy'],
  ],
}
const PODMAN_TOP = {
  Titles: ['PID', 'PPID', 'COMMAND'],
  Processes: [
    ['1', '0', 'tini'],
    ['7', '1', 'haproxy'],
    ['9', '7', 'haproxy'],
  ],
}

describe('workerPids', () => {
  it("lists the master's children, whatever process the master runs under", () => {
    expect(workerPids(DOCKERD_TOP)).toEqual(new Set(['20332', '20367']))
    expect(workerPids(PODMAN_TOP)).toEqual(new Set(['9']))
  })

  it('refuses a list without the columns it needs', () => {
    expect(() => workerPids({ Titles: ['UID', 'PID', 'CMD'], Processes: [] })).toThrow(/no PID, PPID or COMMAND column \(UID, PID, CMD\)/)
  })
})

describe('drainOldWorkers', () => {
  // A load-balancer whose process list changes from one call to the next.
  function listing(...answers: (typeof DOCKERD_TOP | Error)[]) {
    const asked: unknown[] = []
    const lb = {
      async top(options: unknown) {
        asked.push(options)
        const answer = answers[Math.min(asked.length - 1, answers.length - 1)]
        if (answer instanceof Error) throw answer
        return answer
      },
    }
    return { host: through(lb), lb: 'lb', asked }
  }
  const after = (workers: string[]) => ({
    Titles: DOCKERD_TOP.Titles,
    Processes: [['20302', '20283', 'haproxy'], ...workers.map((w) => [w, '20302', 'haproxy'])],
  })

  it('ends as soon as the workers from before the reload have exited', async () => {
    const { host, lb, asked } = listing(DOCKERD_TOP, after(['20332', '20400']), after(['20400']))
    const old = await haproxyWorkers(host, lb, '-o pid,ppid,comm')
    const started = Date.now()
    await drainOldWorkers(host, lb, '-o pid,ppid,comm', old, 30)
    expect(asked).toEqual(Array(3).fill({ ps_args: '-o pid,ppid,comm' }))
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  // An old worker's idle client connection may carry one more request to an old instance until
  // HAProxy's keep-alive timeout closes it.
  it('waits out the keep-alive timeout where the host cannot list processes, or the list stops answering', async () => {
    vi.useFakeTimers()
    try {
      const { host, lb, asked } = listing(new Error('not implemented'))
      expect(await haproxyWorkers(host, lb, undefined)).toBeUndefined()
      for (const [args, old] of [
        [undefined, undefined],
        ['-o pid,ppid,comm', new Set(['20332'])],
      ] as const) {
        let drained = false
        const drain = drainOldWorkers(host, lb, args, old, 30).then(() => (drained = true))
        await vi.advanceTimersByTimeAsync(HTTP_KEEP_ALIVE_S * 1000)
        expect(drained).toBe(false)
        await vi.advanceTimersByTimeAsync(1000)
        expect(drained).toBe(true)
        await drain
      }
      expect(asked).toHaveLength(1)
    } finally {
      vi.useRealTimers()
    }
  })
})
