import type { IncomingMessage } from 'node:http'
import type Docker from 'dockerode'
import { isConnectionLoss } from './connection-errors'
import type { DockerTarget } from './target'

type Callback = (error: unknown, data: unknown) => void
type Dial = (options: Record<string, unknown>, callback: Callback) => void

// Once a loss has been reported, calls the daemon refuses are tried again for this long: the failed
// run's clean-up (and the release of its lock) then reaches a daemon that restarts.
const COMEBACK_MS = 30_000
const RETRY_MS = 500
// Shorter than any daemon restart: a reopened event stream must find the daemon still down.
const REOPEN_DELAY_MS = 200

// Every API call goes through docker-modem's dial. A call that cannot reach the host fails with a
// message naming the host and what to do, instead of a bare "connect ECONNREFUSED"; HTTP errors
// from the Engine pass unchanged (callers read their statusCode).
//
// A daemon that restarts between two calls is no failed call, yet it stopped this run's
// containers, which the deploy would then find exited and blame on the image. So the Engine's
// event stream is held open: when it ends and the daemon refuses a new one, the next call fails
// with the connection loss.
export function reportConnectionLoss(docker: Docker, target: DockerTarget): void {
  const modem = docker.modem as unknown as { dial: Dial }
  const dial = modem.dial.bind(modem)
  const loss = new LossTracker()
  modem.dial = (options, callback) => {
    const missed = loss.takeMissed()
    if (missed) return callback(connectionLost(target, `${missed}; the daemon stopped or restarted during this run, and this run's containers with it`), null)
    // docker-modem's dial rewrites the options it is given (it prefixes the API version to the
    // path): each attempt gets a copy.
    const attempt = (): void =>
      dial({ ...options }, (error, data) => {
        if (!isConnectionLoss(error)) return callback(error, data)
        if (loss.mayRetry(error)) return void setTimeout(attempt, RETRY_MS)
        loss.reported()
        callback(connectionLost(target, error.code ?? error.message), null)
      })
    attempt()
  }
  watchEvents(dial, loss)
}

function connectionLost(target: DockerTarget, why: string): Error {
  return new Error(
    `Lost the connection to the Docker host ${target.address} (${why}). Check that the Docker daemon (or the VCH endpoint) is running and reachable, then run the action again: the next run replaces what this one left behind.`,
  )
}

class LossTracker {
  private missed?: string
  private reportedAt?: number

  // A loss seen by the event stream, not yet by any call: the next call reports it.
  sawMissed(code: string): void {
    if (this.reportedAt === undefined) this.missed = code
  }

  takeMissed(): string | undefined {
    const missed = this.missed
    if (missed) this.reported()
    this.missed = undefined
    return missed
  }

  reported(): void {
    this.reportedAt ??= Date.now()
  }

  // Only a refused connection: the request never reached the daemon, so trying again is safe
  // whatever it does.
  mayRetry(error: NodeJS.ErrnoException): boolean {
    const refused = error.code === 'ECONNREFUSED' || error.code === 'ENOENT'
    return refused && this.reportedAt !== undefined && Date.now() < this.reportedAt + COMEBACK_MS
  }
}

// An Engine without an event stream (or one that refuses it) is simply not watched.
function watchEvents(dial: Dial, loss: LossTracker): void {
  const events = { path: '/events?', method: 'GET', options: {}, isStream: true, statusCodes: { 200: true } }
  dial(events, (error, data) => {
    if (error) {
      if (isConnectionLoss(error)) loss.sawMissed(error.code ?? error.message)
      return
    }
    const stream = data as IncomingMessage
    // Watching must not keep the action's process alive once its work is done.
    stream.socket?.unref()
    stream.resume()
    // A stream closed by a proxy's idle timeout is reopened, without spinning on one that closes
    // at once.
    stream.once('close', () => setTimeout(() => watchEvents(dial, loss), REOPEN_DELAY_MS).unref())
  })
}
