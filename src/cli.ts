import { parseArgs } from 'node:util'
import { COMMANDS, INPUT_SPECS } from './inputs'
import { run } from './main'

// `vic-lb deploy --image httpd --instances 3`: the action's own code, with flags for inputs.
const flags = INPUT_SPECS.filter((spec) => spec.name !== 'command')

function usage(): string {
  const width = Math.max(...flags.map((f) => f.name.length)) + 4
  return [
    `Usage: vic-lb <${COMMANDS.join('|')}> [--flag value ...]`,
    '',
    'Deploys N instances of an image behind an HAProxy load-balancer on a Docker or VCH host,',
    'or removes such a deployment. Flags mirror the GitHub Action inputs:',
    '',
    ...flags.map((f) => `  --${f.name.padEnd(width)}${f.description}${f.default ? ` (default: ${f.default})` : ''}`),
    '',
    'Example: vic-lb deploy --image httpd:2.4 --instances 3 --external-network "" --lb-port 8080',
    'PEM values need the --flag=value form: --tls-cert="$(cat cert.pem)". DOCKER_HOST, DOCKER_TLS_VERIFY',
    'and DOCKER_CERT_PATH are read as the docker CLI reads them.',
  ].join('\n')
}

export async function cli(args: string[]): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { help: { type: 'boolean', short: 'h' }, ...Object.fromEntries(flags.map((f) => [f.name, { type: 'string' as const }])) },
    })
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage()}`)
    process.exitCode = 2
    return
  }
  const { values, positionals } = parsed
  if (values.help || positionals.length !== 1) {
    console.log(usage())
    process.exitCode = values.help ? 0 : 2
    return
  }
  // Outputs are for the Actions runner; a person reads the summary line the run prints.
  process.env.GITHUB_OUTPUT ??= '/dev/null'
  // ...and so is the state for a post step, which a command line has none of.
  process.env.GITHUB_STATE ??= '/dev/null'
  const { cancelled } = await run((name) => (name === 'command' ? positionals[0] : (values as Record<string, string | undefined>)[name]))
  // Ctrl-C: done once what the run changed is taken back.
  if (cancelled) process.exit()
}
