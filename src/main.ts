import * as core from '@actions/core'
import type Docker from 'dockerode'
import { INPUT_SPECS, readInputs, registryAuthHeader, type InputReader, type Inputs } from './inputs'
import { resolveTarget } from './docker/target'
import { connectEngine, type Engine } from './docker/engine'
import { pullImage } from './docker/images'
import { checkHost, deploy, pullImages } from './deploy'
import { teardown } from './teardown'
import { describePrune, prune, summarizePrune } from './prune'
import { imageOnHost, withDeploymentLock } from './lock'
import { connectGitHub, type GitHubApi } from './github/api'
import { announceDeployed, announceRemoved, deployedEnvironment } from './github/announce'
import { currentPullRequest, runUrlOf } from './github/event'
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
    const github = inputs.githubToken ? connectGitHub(inputs.githubToken) : undefined
    if (inputs.command === 'deploy') await runDeploy(engine, inputs, github)
    else if (inputs.command === 'teardown') await runTeardown(engine, inputs, github)
    else await runPrune(engine, inputs, github)
  } catch (error) {
    core.setFailed(error instanceof Error ? error.message : String(error))
  }
}

// The PR comment is written while the lock is held, so two runs never write it out of order.
async function runDeploy(engine: Engine, inputs: Inputs, github: GitHubApi | undefined): Promise<void> {
  const settings = inputs.deploy!
  const deployment = inputs.instancePrefix
  await core.group('Check the Docker host', () => checkHost(engine.docker, settings))
  const pulled = await pullImages(engine.docker, settings)
  const lock = { operation: 'deploy' as const, host: engine.host, image: pulled.haproxyImage.id, timeoutSeconds: inputs.waitTimeoutSeconds }
  const result = await withDeploymentLock(engine.docker, deployment, lock, async () => {
    const deployed = await deploy(engine, settings, pulled)
    await announceDeployed(github, currentPullRequest(), deployedEnvironment(deployment, settings.image, deployed, new Date(), runUrlOf()))
    return deployed
  })
  core.setOutput('ip', result.ip)
  core.setOutput('port', String(result.port))
  core.setOutput('url', result.url)
  core.setOutput('lb-container', result.lbContainer)
  core.setOutput('instances', JSON.stringify(result.instances))
  core.info(`${result.changed ? 'Deployed' : 'Unchanged'}: ${result.url} served by ${result.instances.length} instance(s)`)
  await summarizeDeploy(deployment, settings.image, result)
}

async function runTeardown({ docker, host }: Engine, inputs: Inputs, github: GitHubApi | undefined): Promise<void> {
  const deployment = inputs.instancePrefix
  const lock = { operation: 'teardown' as const, host, image: await lockImage(docker, inputs), timeoutSeconds: inputs.waitTimeoutSeconds }
  const { removed } = await withDeploymentLock(docker, deployment, lock, async () => {
    const result = await teardown(docker, deployment)
    await announceRemoved(github, currentPullRequest(), { deployment, at: new Date(), reason: 'teardown', runUrl: runUrlOf() })
    return result
  })
  await summarizeTeardown(deployment, removed)
}

async function runPrune({ docker, host }: Engine, inputs: Inputs, github: GitHubApi | undefined): Promise<void> {
  const pattern = inputs.instancePrefix
  const lock = { host, image: await lockImage(docker, inputs), timeoutSeconds: inputs.waitTimeoutSeconds }
  const report = await prune(docker, inputs.prune!, { lock, github })
  for (const line of describePrune(report, pattern)) core.info(line)
  await summarizePrune(report, pattern)
  if (report.failed.length > 0)
    throw new Error(
      `Prune could not remove ${report.failed.map((f) => `'${f.deployment}'`).join(', ')} (why is above). Run prune again; if it keeps failing, run teardown for each.`,
    )
}

// The lock container is never started: any image on the Docker host will do, the HAProxy image
// when it is there. Only a host without any image needs it pulled first.
async function lockImage(docker: Docker, inputs: Inputs): Promise<string> {
  const onHost = await imageOnHost(docker, inputs.haproxyImage)
  if (onHost) return onHost
  return (await pullImage(docker, inputs.haproxyImage, undefined, core.info)).id
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
  const username = read('registry-username')?.trim()
  const password = read('registry-password')
  if (username && password) core.setSecret(registryAuthHeader(username, password))
}
