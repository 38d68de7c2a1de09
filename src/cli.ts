#!/usr/bin/env node
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
  ].join('\n')
}

let parsed: ReturnType<typeof parse>
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' }, ...Object.fromEntries(flags.map((f) => [f.name, { type: 'string' as const }])) },
  })
}
try {
  parsed = parse()
} catch (error) {
  console.error(`${(error as Error).message}\n\n${usage()}`)
  process.exit(2)
}
const { values, positionals } = parsed
if (values.help || positionals.length !== 1) {
  console.log(usage())
  process.exit(values.help ? 0 : 2)
}
// Outputs are for the Actions runner; a person reads the summary line the run prints.
process.env.GITHUB_OUTPUT ??= '/dev/null'
void run((name) => (name === 'command' ? positionals[0] : (values as Record<string, string | undefined>)[name]))
