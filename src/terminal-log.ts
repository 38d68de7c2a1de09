import type { Log } from './log'

// The run's log for a person at a terminal: each step with its elapsed time and its lines indented
// under it, warnings and errors as plain lines on stderr, colour only on a terminal (and never with
// NO_COLOR). Secrets are replaced with *** here: outside the runner nobody else masks them.

export type Stream = Pick<NodeJS.WritableStream, 'write'> & { isTTY?: boolean }

export interface Terminal {
  // Steps and information; the CLI passes stderr here when stdout is kept for --output json.
  out: Stream
  // Warnings and errors.
  err: Stream
  env: NodeJS.ProcessEnv
  now?: () => number
}

const STYLES = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39] } as const
type Style = keyof typeof STYLES

export function terminalLog({ out, err, env, now = Date.now }: Terminal): Log {
  // Longest first, so that a whole value is replaced before the lines it is made of.
  const secrets: string[] = []
  // How many steps the current line is inside of.
  let depth = 0
  const mask = (text: string): string => secrets.reduce((masked, secret) => masked.split(secret).join('***'), text)
  const paint = (stream: Stream) => {
    // https://no-color.org: present and not empty.
    const colour = stream.isTTY === true && !env.NO_COLOR
    return (style: Style, text: string): string => (colour ? `\x1b[${STYLES[style][0]}m${text}\x1b[${STYLES[style][1]}m` : text)
  }
  const outStyle = paint(out)
  const errStyle = paint(err)
  // Masked before it is split, indented or painted: a secret may span lines.
  const print = (message: string, style?: Style): void => {
    const indent = '  '.repeat(depth)
    for (const line of mask(message).split('\n')) out.write(`${indent}${style ? outStyle(style, line) : line}\n`)
  }
  const complain = (label: string, style: Style, message: string): void => {
    err.write(`${errStyle(style, label)} ${mask(message)}\n`)
  }
  const error = (message: string): void => complain('error:', 'red', message)

  return {
    info: (message) => print(message),
    quote: (text) => print(text),
    warning: (message) => complain('warning:', 'yellow', message),
    error,
    // As on the runner, debug lines show only when asked for.
    debug: (message) => {
      if (env.RUNNER_DEBUG === '1') complain('debug:', 'dim', message)
    },
    // A step ends with its elapsed time; a group inside a step (such as a container's logs) is
    // only a heading over its lines.
    group: async (name, fn) => {
      print(`▸ ${outStyle('bold', name)}`)
      const started = now()
      const step = depth === 0
      let done = false
      depth++
      try {
        const result = await fn()
        done = true
        return result
      } finally {
        depth--
        const took = elapsed(now() - started)
        if (step && done) print(`${outStyle('green', '✓')} ${name} ${outStyle('dim', `(${took})`)}`)
        if (step && !done) print(`${outStyle('red', '✗')} ${name} ${outStyle('red', `failed after ${took}`)}`)
      }
    },
    progress: (message) => print(message, 'dim'),
    setSecret: (value) => {
      if (!value) return
      secrets.push(value)
      secrets.sort((a, b) => b.length - a.length)
    },
    // A person reads the run's last line; scripts ask for --output json (see cli.ts).
    setOutput: () => {},
    setFailed: (message) => {
      error(message)
      process.exitCode = 1
    },
  }
}

export function elapsed(ms: number): string {
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`
  const seconds = Math.round(ms / 1000)
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`
}
