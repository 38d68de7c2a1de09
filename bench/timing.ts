import { spawn, type ChildProcess } from 'node:child_process'

// Timing helpers shared by the benchmarks: a command run with the arrival time of each output line,
// and a check through a load-balancer that every instance answers.

export interface Line {
  ms: number // since the command was spawned
  text: string
}

export interface TimedRun {
  ms: number
  // Wall clock at spawn (epoch ms), to place the Docker host's own timestamps on the same axis.
  spawnedAt: number
  code: number | string | null
  lines: Line[]
}

const running = new Set<ChildProcess>()

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
export const seconds = (ms: number, digits = 1): string => (ms / 1000).toFixed(digits)
export const median = <T>(xs: T[], key: (x: T) => number): T => [...xs].sort((a, b) => key(a) - key(b))[Math.floor((xs.length - 1) / 2)]

// In its own process group, so that a timeout or Ctrl-C ends all it started.
export async function timed(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<TimedRun> {
  const spawnedAt = Date.now()
  const start = performance.now()
  const lines: Line[] = []
  const child = spawn(command, args, { env: opts.env, cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  for (const stream of [child.stdout, child.stderr]) {
    let rest = ''
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n')
      rest = parts.pop() ?? ''
      for (const text of parts) lines.push({ ms: performance.now() - start, text })
    })
  }
  const timer = setTimeout(() => killGroup(child), opts.timeoutMs ?? 600_000)
  const code = await new Promise<number | string | null>((resolve) => child.on('close', (c, signal) => resolve(c ?? signal)))
  clearTimeout(timer)
  running.delete(child)
  return { ms: performance.now() - start, spawnedAt, code, lines }
}

export function rendered(lines: Line[]): string {
  return lines.map((l) => `${seconds(l.ms, 2).padStart(7)}s  ${l.text}`).join('\n')
}

// Ends every command still running (on a signal or a failure).
export function killRunning(): void {
  for (const child of running) killGroup(child)
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL')
  } catch {
    // already gone
  }
}

// Polls `url` until `n` distinct instances (hostnames in "web v1 <hostname>") have answered.
// Returns the milliseconds that took; throws at the deadline.
export async function timeUntilServing(url: string, n: number, deadline: number): Promise<number> {
  const start = performance.now()
  const seen = new Set<string>()
  let last = 'no answer yet'
  while (seen.size < n) {
    if (Date.now() > deadline) throw new Error(`${url}: only ${seen.size} of ${n} instances answered before the deadline (last: ${last})`)
    let host: string | undefined
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      const body = await response.text()
      host = response.ok ? /^web v\d+ (\S+)/.exec(body)?.[1] : undefined
      last = `HTTP ${response.status} ${body.trim().slice(0, 60)}`
    } catch (error) {
      last = (error as Error).message
    }
    if (host) seen.add(host)
    else await sleep(50)
  }
  return performance.now() - start
}
