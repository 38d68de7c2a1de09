import { randomUUID } from 'node:crypto'
import * as core from '@actions/core'

// Everything the run prints goes through this one seam. On the Actions runner it is the toolkit's
// workflow commands, which the runner turns into groups, annotations and masks; the vic-lb command
// run by a person swaps in terminal-log.ts once, before anything is printed.

export interface Log {
  info(message: string): void
  // Text the run did not write (a container's output), printed as it is: on the runner a line of it
  // that looks like a workflow command (`::add-mask::`, `::error::`) is shown, never obeyed.
  quote(text: string): void
  warning(message: string): void
  error(message: string): void
  debug(message: string): void
  // One step of the run: a collapsible group on the runner, a line with its elapsed time for a person.
  group<T>(name: string, fn: () => Promise<T>): Promise<T>
  // How a long wait is getting on, at most every few seconds.
  progress(message: string): void
  // Every line printed afterwards shows the value as ***.
  setSecret(value: string): void
  // Non-string values are written as JSON, as @actions/core writes them.
  setOutput(name: string, value: unknown): void
  // Prints the error and makes the process exit with code 1.
  setFailed(message: string): void
}

export const actionsLog: Log = {
  info: (message) => core.info(message),
  // Between stop-commands, under a fresh token each time, so the text cannot end the pause itself.
  quote: (text) => {
    const token = randomUUID()
    core.info(`::stop-commands::${token}`)
    core.info(text)
    core.info(`::${token}::`)
  },
  warning: (message) => core.warning(message),
  error: (message) => core.error(message),
  debug: (message) => core.debug(message),
  group: (name, fn) => core.group(name, fn),
  // The runner's log stays as it was: a wait shows in its step's group, and its outcome after it.
  progress: () => {},
  setSecret: (value) => core.setSecret(value),
  setOutput: (name, value) => core.setOutput(name, value),
  setFailed: (message) => core.setFailed(message),
}

let current: Log = actionsLog

// Every secret registered, longest first, for text that leaves the run another way than the log
// (a GitHub deployment's status): the runner masks only the log.
const secrets: string[] = []

export function withSecretsMasked(text: string): string {
  return secrets.reduce((masked, secret) => masked.split(secret).join('***'), text)
}

// The log every module prints to; it forwards to the one chosen at start, so its methods can be
// passed around unbound (e.g. `log.info` as a progress callback).
export const log: Log = {
  info: (message) => current.info(message),
  quote: (text) => current.quote(text),
  warning: (message) => current.warning(message),
  error: (message) => current.error(message),
  debug: (message) => current.debug(message),
  group: (name, fn) => current.group(name, fn),
  progress: (message) => current.progress(message),
  setSecret: (value) => {
    secrets.push(value)
    secrets.sort((a, b) => b.length - a.length)
    current.setSecret(value)
  },
  setOutput: (name, value) => current.setOutput(name, value),
  setFailed: (message) => current.setFailed(message),
}

export function useLog(chosen: Log): void {
  current = chosen
}
