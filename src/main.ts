import * as core from '@actions/core'
import { INPUT_SPECS, readInputs, type InputReader } from './inputs'
import { resolveTarget } from './docker/target'
import { connectEngine } from './docker/engine'
import { deploy } from './deploy'
import { teardown } from './teardown'
import { summarizeDeploy, summarizeTeardown } from './summary'

// Inputs as the runner passes them: INPUT_<NAME> environment variables, absent when not given.
export const readActionInput: InputReader = (name) => process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`]

export async function run(read: InputReader = readActionInput): Promise<void> {
  try {
    maskSecrets(read)
    const inputs = readInputs(read)
    const target = resolveTarget(inputs.dockerHost, inputs.tls, process.env)
    const engine = await core.group('Connect to the Docker host', async () => {
      const connected = await connectEngine(target)
      core.info(`Connected to ${connected.description}`)
      return connected
    })
    if (inputs.command === 'teardown') {
      const { removed } = await teardown(engine.docker, inputs.instancePrefix)
      await summarizeTeardown(inputs.instancePrefix, removed)
      return
    }
    const settings = inputs.deploy!
    const result = await deploy(engine, settings)
    core.setOutput('ip', result.ip)
    core.setOutput('port', String(result.port))
    core.setOutput('url', result.url)
    core.setOutput('lb-container', result.lbContainer)
    core.setOutput('instances', JSON.stringify(result.instances))
    core.info(`${result.changed ? 'Deployed' : 'Unchanged'}: ${result.url} served by ${result.instances.length} instance(s)`)
    await summarizeDeploy(settings.instancePrefix, settings.image, result)
  } catch (error) {
    core.setFailed(error instanceof Error ? error.message : String(error))
  }
}

// Registered before anything else is printed. PEM material is also masked line by line, since
// a log line never holds a whole multi-line value.
function maskSecrets(read: InputReader): void {
  for (const spec of INPUT_SPECS.filter((s) => s.secret)) {
    const value = read(spec.name)?.trim()
    if (!value) continue
    core.setSecret(value)
    for (const line of value.split(/\r?\n/)) if (line.trim().length >= 8) core.setSecret(line.trim())
  }
}
