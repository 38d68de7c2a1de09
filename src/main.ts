import { log } from './log'
import { basicAuthorization } from './haproxy/basic-auth'
import { INPUT_SPECS, readInputs, registryAuthHeader, serviceSecretValues, type InputReader, type Inputs } from './inputs'
import { resolveTarget } from './docker/target'
import { connectEngine, type Engine } from './docker/engine'
import type { DockerHost } from './docker/deploy-host'
import { dockerodeHost } from './docker/dockerode-host'
import { obtainImage } from './docker/images'
import { checkHost, deploy, pullImages } from './deploy'
import { teardown } from './teardown'
import { describePrune, prune, summarizePrune } from './prune'
import { imageOnHost, withDeploymentLock, withIngressLock } from './lock'
import type { UnderIngressLock } from './ingress/route'
import { removeIngress } from './ingress/remove'
import { connectGitHub, type GitHubApi } from './github/api'
import { announceDeployed, announceRemoved, deployedEnvironment } from './github/announce'
import { currentCommit, currentPullRequest, runUrlOf } from './github/event'
import { currentEnvironment, recordDeployment, recordRemoved, type DeploymentRecord } from './github/deployments'
import { workflowRunFinished } from './github/runs'
import { useOwner } from './labels'
import { checkOwner } from './owner'
import { summarizeDeploy, summarizeTeardown } from './summary'
import { cancelOnSignals, untilCancelled } from './cancel'

// Inputs as the runner passes them: INPUT_<NAME> environment variables, absent when not given.
export const readActionInput: InputReader = (name) => process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`]

// Resolves with whether the run was cancelled.
export async function run(read: InputReader = readActionInput): Promise<{ cancelled: boolean }> {
  const cancellation = cancelOnSignals()
  const { signal } = cancellation
  try {
    maskSecrets(read)
    const inputs = readInputs(read)
    useOwner(inputs.owner)
    const target = resolveTarget(inputs.dockerHost, inputs.tls, process.env)
    const engine = await log.group('Connect to the Docker host', async () => {
      const connected = await untilCancelled(connectEngine(target), signal)
      log.info(`Connected to ${connected.description}`)
      return connected
    })
    const github = inputs.githubToken ? await connectGitHub(inputs.githubToken) : undefined
    const host = dockerodeHost(engine.docker)
    if (inputs.command === 'deploy') await runDeploy(host, engine, inputs, github, signal)
    else if (inputs.command === 'teardown') await runTeardown(host, engine, inputs, github, signal)
    else if (inputs.command === 'prune') await runPrune(host, engine, inputs, github, signal)
    else await runRemoveIngress(host, engine, inputs, signal)
  } catch (error) {
    log.setFailed(failureOf(error, signal))
  } finally {
    cancellation.stop()
  }
  return { cancelled: signal.aborted }
}

// A cancelled run says so, whatever step noticed it first.
function failureOf(error: unknown, signal: AbortSignal): string {
  const reason = signal.aborted ? signal.reason : error
  return reason instanceof Error ? reason.message : String(reason)
}

// The GitHub deployment is in progress from the start, so a deploy that fails before it takes the
// lock (a refused image, a host without room) shows as failed too.
async function runDeploy(host: DockerHost, engine: Engine, inputs: Inputs, github: GitHubApi | undefined, signal: AbortSignal): Promise<void> {
  const record = await recordDeployment(github, currentEnvironment(inputs.environment, inputs.instancePrefix), currentCommit())
  try {
    await deployRecorded(host, engine, inputs, github, record, signal)
  } catch (error) {
    await record.failed(failureOf(error, signal))
    throw error
  }
}

// The PR comment and the GitHub deployment's success are written while the lock is held, so two
// runs never write them out of order.
async function deployRecorded(
  host: DockerHost,
  engine: Engine,
  inputs: Inputs,
  github: GitHubApi | undefined,
  record: DeploymentRecord,
  signal: AbortSignal,
): Promise<void> {
  const settings = inputs.deploy!
  const deployment = inputs.instancePrefix
  await log.group('Check the Docker host', () => checkHost(host, engine, settings))
  const pulled = await pullImages(host, engine.host, settings, signal)
  const lock = {
    operation: 'deploy' as const,
    host: engine.host,
    image: pulled.haproxyImage.id,
    timeoutSeconds: inputs.waitTimeoutSeconds,
    signal,
    runFinished: runFinishedVia(github),
  }
  const result = await withDeploymentLock(host, deployment, lock, async (leased) => {
    const underIngressLock: UnderIngressLock = (fn) => withIngressLock(leased, settings.ingress!.name, { ...lock, operation: 'route' }, fn)
    const deployed = await deploy(leased, engine, settings, pulled, signal, underIngressLock)
    await announceDeployed(github, currentPullRequest(), deployedEnvironment(deployment, settings.image, deployed, new Date(), runUrlOf()))
    await record.ready(deployed.url)
    return deployed
  })
  log.setOutput('ip', result.ip)
  log.setOutput('port', result.port)
  log.setOutput('url', result.url)
  log.setOutput('lb-container', result.lbContainer)
  // Non-strings reach the runner as JSON (@actions/core), and --output json keeps their type.
  log.setOutput('instances', result.instances)
  log.info(`${result.changed ? 'Deployed' : 'Unchanged'}: ${result.url} served by ${result.instances.length} instance(s)`)
  await summarizeDeploy(deployment, settings, result)
}

// Once it holds the lock, a teardown completes even when cancelled: removing is what it is for.
async function runTeardown(host: DockerHost, { host: profile }: Engine, inputs: Inputs, github: GitHubApi | undefined, signal: AbortSignal): Promise<void> {
  const deployment = inputs.instancePrefix
  // Before the lock, so that a refused teardown waits for nobody; teardown checks again under it.
  await checkOwner(host, deployment, inputs.owner, 'teardown')
  const lock = {
    operation: 'teardown' as const,
    host: profile,
    image: await lockImage(host, inputs, signal),
    timeoutSeconds: inputs.waitTimeoutSeconds,
    signal,
    runFinished: runFinishedVia(github),
  }
  const { removed } = await withDeploymentLock(host, deployment, lock, async (leased) => {
    const result = await teardown(leased, deployment, inputs.owner, lock)
    await announceRemoved(github, currentPullRequest(), { deployment, at: new Date(), reason: 'teardown', runUrl: runUrlOf() })
    await recordRemoved(github, currentEnvironment(inputs.environment, deployment), 'teardown')
    return result
  })
  await summarizeTeardown(deployment, removed)
}

async function runPrune(host: DockerHost, { host: profile }: Engine, inputs: Inputs, github: GitHubApi | undefined, signal: AbortSignal): Promise<void> {
  const pattern = inputs.instancePrefix
  const lock = {
    host: profile,
    image: await lockImage(host, inputs, signal),
    timeoutSeconds: inputs.waitTimeoutSeconds,
    signal,
    runFinished: runFinishedVia(github),
  }
  const report = await prune(host, inputs.prune!, { lock, github, environment: inputs.environment })
  for (const line of describePrune(report, pattern)) log.info(line)
  await summarizePrune(report, pattern)
  if (report.failed.length > 0)
    throw new Error(
      `Prune could not remove ${report.failed.map((f) => `'${f.deployment}'`).join(', ')} (why is above). Run prune again; if it keeps failing, run teardown for each.`,
    )
}

function runFinishedVia(github: GitHubApi | undefined): ((run: string) => Promise<boolean>) | undefined {
  return github ? workflowRunFinished(github) : undefined
}

// The lock container is never started: any image on the Docker host will do, the HAProxy image
// when it is there. Only a host without any image needs it pulled first.
// Under the ingress's lock, so that no deploy routes through it meanwhile.
async function runRemoveIngress(host: DockerHost, { host: profile }: Engine, inputs: Inputs, signal: AbortSignal): Promise<void> {
  const { name, force } = inputs.removeIngress!
  const lock = { operation: 'route' as const, host: profile, image: await lockImage(host, inputs, signal), timeoutSeconds: inputs.waitTimeoutSeconds, signal }
  await withIngressLock(host, name, lock, (leased) => removeIngress(leased, name, force))
}

async function lockImage(host: DockerHost, inputs: Inputs, signal: AbortSignal): Promise<string> {
  const onHost = await imageOnHost(host, inputs.haproxyImage)
  if (onHost) return onHost
  return (await obtainImage(host, inputs.haproxyImage, { policy: inputs.pull, signal }, log.info)).id
}

// Registered before anything else is printed. PEM material is also masked line by line, since
// a log line never holds a whole multi-line value.
export function maskSecrets(read: InputReader): void {
  for (const spec of INPUT_SPECS.filter((s) => s.secret)) {
    const value = read(spec.name)?.trim()
    if (!value) continue
    log.setSecret(value)
    for (const line of value.split(/\r?\n/)) if (line.trim().length >= 8) log.setSecret(line.trim())
  }
  // Each secret-env value on its own as well: a program may print it without its key.
  for (const line of (read('secret-env') ?? '').split(/\r?\n/)) {
    maskValue(line.slice(line.indexOf('=') + 1))
  }
  for (const value of serviceSecretValues(read('services') ?? '')) maskValue(value)
  // Each basic-auth password alone, its line, and the base64 an Authorization header carries.
  for (const line of (read('basic-auth') ?? '').split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon < 0 || line.trim() === '') continue
    const credentials = { user: line.slice(0, colon), password: line.slice(colon + 1) }
    for (const value of [credentials.password, line, basicAuthorization(credentials).slice('Basic '.length)]) if (value) log.setSecret(value)
  }
  const username = read('registry-username')?.trim()
  const password = read('registry-password')
  if (username && password) log.setSecret(registryAuthHeader(username, password))
  // The Docker host address is as secret taken from the environment as given as docker-host.
  const fromEnvironment = process.env.DOCKER_HOST?.trim()
  if (fromEnvironment) log.setSecret(fromEnvironment)
}

// A secret variable's value as given and trimmed: a program may print either.
function maskValue(value: string): void {
  for (const form of new Set([value, value.trim()])) if (form.trim()) log.setSecret(form)
}
