import * as fs from 'node:fs'
import { parseArgs } from 'node:util'
import { COMMANDS, INPUT_SPECS, type Command, type InputReader } from './inputs'
import { actionsLog, useLog, type Log } from './log'
import { terminalLog, type Stream } from './terminal-log'
import { run } from './main'

// `vic-lb deploy --image httpd --instances 3`: the action's own code, with flags for inputs. Run by
// a person it prints for a person (terminal-log.ts); in a workflow step, as the action does.

const flags = INPUT_SPECS.filter((spec) => spec.name !== 'command')
// Inputs that are whole files (PEM, env files) also take `--<input>-file PATH`, so that no one has
// to paste them into a flag. A name here gets its flag once INPUT_SPECS has the input.
const FILE_INPUTS = ['tls-ca-cert', 'tls-cert', 'tls-key', 'lb-certificate', 'basic-auth', 'env', 'secret-env', 'services']
const fileFlags = flags.filter((spec) => FILE_INPUTS.includes(spec.name))
const OUTPUT_FORMATS = ['text', 'json'] as const
type OutputFormat = (typeof OUTPUT_FORMATS)[number]

export class UsageError extends Error {}

export type Invocation = { help: true } | { help: false; command: Command; read: InputReader; output: OutputFormat }

export interface CliIo {
  env: NodeJS.ProcessEnv
  stdout: Stream
  stderr: Stream
}

export function usage(): string {
  const lines: [string, string][] = [
    ...flags.map((f): [string, string] => [`--${f.name}`, `${f.description}${f.default ? ` (default: ${f.default})` : ''}`]),
    ...fileFlags.map((f): [string, string] => [`--${f.name}-file`, `Path of a file whose contents are ${f.name}.`]),
    ['--output', `How the run reports: 'text' (default) for a person; 'json' prints the outputs as one JSON object on stdout, the log on stderr.`],
  ]
  const width = Math.max(...lines.map(([flag]) => flag.length)) + 2
  return [
    `Usage: vic-lb <${COMMANDS.join('|')}> [--flag value ...]`,
    '',
    'Deploys N instances of an image behind an HAProxy load-balancer on a Docker or VCH host,',
    'or removes such a deployment. Flags mirror the GitHub Action inputs:',
    '',
    ...lines.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`),
    '',
    'Example: vic-lb deploy --image httpd:2.4 --instances 3 --external-network "" --lb-port 8080',
    'PEM in a flag needs the --flag=value form (--tls-cert="$(cat cert.pem)"); --tls-cert-file cert.pem',
    'reads the file. DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are read as the docker CLI does.',
    'Exit code: 0 done, 1 failed, 2 wrong usage. NO_COLOR turns colour off.',
  ].join('\n')
}

// What the command line asks for; a UsageError says what is wrong with it. File flags are read
// here, so an unreadable file is refused before anything is connected to. Their contents are
// never quoted: the secret ones are masked by the run like any secret input.
export function parseCommandLine(args: string[], readFile = (path: string) => fs.readFileSync(path, 'utf8')): Invocation {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        output: { type: 'string' },
        ...Object.fromEntries([...flags.map((f) => f.name), ...fileFlags.map((f) => `${f.name}-file`)].map((name) => [name, { type: 'string' as const }])),
      },
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const values = parsed.values as Record<string, string | boolean | undefined>
  if (values.help) return { help: true }
  if (parsed.positionals.length !== 1) throw new UsageError(`Expected one command (${COMMANDS.join(', ')}), got ${parsed.positionals.length}.`)
  const [command] = parsed.positionals
  if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`Unknown command '${command}'. Expected one of: ${COMMANDS.join(', ')}.`)
  const output = (values.output as string | undefined) ?? 'text'
  if (!(OUTPUT_FORMATS as readonly string[]).includes(output))
    throw new UsageError(`Invalid --output '${output}'. Expected one of: ${OUTPUT_FORMATS.join(', ')}.`)

  const inputs: Record<string, string | undefined> = Object.fromEntries(flags.map((f) => [f.name, values[f.name] as string | undefined]))
  for (const { name } of fileFlags) {
    const path = values[`${name}-file`] as string | undefined
    if (path === undefined) continue
    if (inputs[name] !== undefined) throw new UsageError(`Give --${name} or --${name}-file, not both.`)
    try {
      inputs[name] = readFile(path)
    } catch (error) {
      throw new UsageError(`Could not read --${name}-file: ${(error as Error).message}`)
    }
  }
  return { help: false, command: command as Command, read: (name) => (name === 'command' ? command : inputs[name]), output: output as OutputFormat }
}

export async function cli(args: string[], io: CliIo = { env: process.env, stdout: process.stdout, stderr: process.stderr }): Promise<void> {
  let invocation: Invocation
  try {
    invocation = parseCommandLine(args)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    io.stderr.write(`vic-lb: ${error.message}\nRun 'vic-lb --help' for every command and flag.\n`)
    process.exitCode = 2
    return
  }
  if (invocation.help) {
    io.stdout.write(`${usage()}\n`)
    return
  }
  const inActions = io.env.GITHUB_ACTIONS === 'true'
  // Without an outputs file (GITHUB_ACTIONS set by hand) @actions/core would print ::set-output.
  if (inActions) io.env.GITHUB_OUTPUT ??= '/dev/null'
  // A command line has no post step to keep state for; @actions/core reads process.env for where
  // to keep it, and would otherwise print ::save-state:: lines.
  process.env.GITHUB_STATE ??= '/dev/null'
  const json = invocation.output === 'json'
  // With --output json a person's log goes to stderr, so that stdout holds the JSON alone. In a
  // workflow step the runner reads the workflow commands on stdout; the JSON comes last there.
  const chosen = inActions ? actionsLog : terminalLog({ out: json ? io.stderr : io.stdout, err: io.stderr, env: io.env })
  const outputs: Record<string, unknown> = {}
  let failed = false
  useLog({
    ...chosen,
    setOutput: (name, value) => {
      outputs[name] = value
      chosen.setOutput(name, value)
    },
    setFailed: (message) => {
      failed = true
      chosen.setFailed(message)
    },
  } satisfies Log)
  const { cancelled } = await run(invocation.read)
  if (json && !failed) io.stdout.write(`${JSON.stringify(outputs)}\n`)
  // Ctrl-C: done once what the run changed is taken back.
  if (cancelled) process.exit()
}
