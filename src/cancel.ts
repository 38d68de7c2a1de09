import { log } from './log'

// The runner cancels a step by sending SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after
// that; the post step runs anyway. The first signal aborts the run's AbortSignal: whatever waits
// (a pull, the lock, readiness) stops at once and the deploy takes back what it created. A
// second signal changes nothing: the undo goes on, and if SIGKILL cuts it short the post step
// (post.ts) finishes it.

export class CancelledError extends Error {}

// Until stop() is called; the signal is aborted by the first SIGINT or SIGTERM.
export function cancelOnSignals(): { signal: AbortSignal; stop: () => void } {
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      log.info(`Received ${signal} again: still taking back what this run changed.`)
      return
    }
    log.warning(`Received ${signal}: the run is cancelled. Stopping now and taking back what it changed.`)
    controller.abort(
      new CancelledError(
        `The run was cancelled (${signal}). What it had changed on the Docker host was taken back; a deployment that served before goes on serving.`,
      ),
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    stop: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

// Waits ms, or until the run is cancelled (then rejects with the cancellation).
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

// The promise's outcome, or the cancellation as soon as it comes: for waits that cannot be told to
// stop (connecting to the Docker host, with its retries), which create nothing on the host. What
// they leave running ends with the process (index.ts exits once a cancelled run is done).
export function untilCancelled<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
