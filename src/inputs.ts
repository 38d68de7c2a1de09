// Every input of the action (and flag of the CLI), parsed into one typed object and checked
// before anything on the Docker host is touched. The table below is the single source of the
// inputs' names, defaults and descriptions; a unit test keeps action.yml in step with it.

import { X509Certificate, createPrivateKey } from 'node:crypto'
import { BlockList, isIP } from 'node:net'
import { parseDocument } from 'yaml'
import type { Credentials } from './haproxy/basic-auth'
import { PROTOCOLS, STATS_PORT, type LbTimeouts, type Protocol } from './haproxy/config'
import { InputError } from './errors'
import { LOCAL_OWNER } from './labels'
import { lockName, networkName, serviceContainerName } from './names'

export const COMMANDS = ['deploy', 'teardown', 'prune', 'remove-ingress'] as const
export type Command = (typeof COMMANDS)[number]

export const PULL_POLICIES = ['always', 'missing', 'never'] as const
export type PullPolicy = (typeof PULL_POLICIES)[number]

// The deployment deploy and teardown act on when instance-prefix is empty. Prune has no default:
// removing deployments is never done on a guess.
const DEFAULT_DEPLOYMENT = 'web'

// A pinned LTS branch: `haproxy:lts` moves to a new branch every June.
export const DEFAULT_HAPROXY_IMAGE = 'haproxy:3.2'

export interface InputSpec {
  name: string
  description: string
  default?: string
  secret?: boolean
}

export const INPUT_SPECS: InputSpec[] = [
  {
    name: 'command',
    default: 'deploy',
    description:
      'What to do: `deploy`, `teardown`, `prune` (remove old deployments, see `max-age`), or `remove-ingress` (remove the shared load-balancer `ingress`, see `force`).',
  },
  {
    name: 'docker-host',
    secret: true,
    description:
      'Docker Engine API endpoint: `tcp://host:2376`, `host:2376` (as a VCH env file writes it) or `unix:///path`. Empty: `DOCKER_HOST` from the environment, else the local socket.',
  },
  { name: 'tls-ca-cert', secret: true, description: 'PEM contents of the CA that signed the Docker host certificate.' },
  { name: 'tls-cert', secret: true, description: 'PEM contents of the client certificate.' },
  { name: 'tls-key', secret: true, description: 'PEM contents of the client private key.' },
  {
    name: 'tls-verify',
    default: 'true',
    description: 'Verify the Docker host certificate. `false` is for a VCH created with `--no-tlsverify`.',
  },
  { name: 'image', description: 'Image of the service instances (required for deploy).' },
  { name: 'instances', default: '3', description: 'Number of service instances behind the load-balancer.' },
  { name: 'instance-port', default: '80', description: 'Port the service listens on inside each instance.' },
  { name: 'lb-port', default: '80', description: 'Port the load-balancer serves on.' },
  {
    name: 'instance-prefix',
    description:
      'Names the deployment: instances are `<prefix>-<generation>-<n>`, their network `<prefix>-net`. Use one per preview environment, e.g. `pr-42`. Empty: `web`. For `prune` (required): which deployments to consider, `*` matching any characters, e.g. `pr-*`.',
  },
  { name: 'lb-name', default: 'lb', description: 'Name of the load-balancer container.' },
  {
    name: 'ingress',
    description:
      "Name of a load-balancer container shared by the deployments on the Docker host, which serves each of them under its own `hostname`: one address (and one wildcard DNS record) for every preview. Same rules as `lb-name`, which is not used with it (leave it at its default). The first deploy that names the ingress creates it from that deploy's `lb-port`, `external-network`, `haproxy-image`, `lb-certificate` and `http-redirect-port`; a later deploy that gives other values for these is refused, never changing the ingress under the other previews. Needs `hostname` and protocol `http`; not available with `basic-auth` yet. Empty: a load-balancer of the deployment's own, named by `lb-name`.",
  },
  {
    name: 'hostname',
    description:
      "With `ingress`: the host name this deployment is served under, e.g. `pr-42.preview.example.com`; the ingress sends it the requests whose `Host` header is that name, which has to resolve to the ingress's address (e.g. by a wildcard DNS record). A lower-case DNS name of at least two labels, each 1 to 63 of `a-z`, `0-9` and `-`, not starting or ending with `-`; up to 253 characters. Required with `ingress`, refused without it.",
  },
  {
    name: 'owner',
    description:
      "Who the deployment belongs to, recorded on every object: `owner/repo` or a local name of letters, digits, `_` and `-`. Deploy and teardown refuse another owner's deployment of the same name; prune considers only this owner's. Empty: `GITHUB_REPOSITORY` (the workflow's repository), else `local`.",
  },
  {
    name: 'external-network',
    default: 'routable',
    description:
      'Routable (container) network the load-balancer joins; its address there is the service address. Empty: publish `lb-port` on the Docker host instead.',
  },
  { name: 'haproxy-image', default: DEFAULT_HAPROXY_IMAGE, description: 'HAProxy image of the load-balancer.' },
  { name: 'protocol', default: 'http', description: 'Load-balance `http` requests or plain `tcp` connections.' },
  {
    name: 'lb-certificate',
    secret: true,
    description:
      'PEM contents of the certificate chain and its private key in one (as HAProxy `crt` takes them): the load-balancer serves HTTPS on `lb-port` with it. Needs protocol `http`. Kept only inside the load-balancer container, readable by the user HAProxy runs as.',
  },
  {
    name: 'http-redirect-port',
    description:
      'With `lb-certificate`: a port where the load-balancer answers plain HTTP with a permanent redirect to the same URL over HTTPS on `lb-port`, e.g. `80` beside `lb-port` 443. Published or opened like `lb-port`. Empty: none.',
  },
  {
    name: 'basic-auth',
    secret: true,
    description:
      'Credentials, one `user:password` per line, from a secret: every request to the service needs one of them, else it gets 401 and the browser asks for them. Needs protocol `http`. The load-balancer keeps only a salted SHA-256 of each; use long random passwords. Health checks and readiness are not affected.',
  },
  {
    name: 'allow-cidrs',
    description:
      'Networks allowed to reach the service, as the load-balancer sees the client address: IPv4 or IPv6 CIDRs (`203.0.113.0/24`, `2001:db8::/32`) or single addresses, separated by commas, spaces or newlines. Other clients get 403 (`tcp`: their connection is closed). Empty: everyone.',
  },
  {
    name: 'health-check-path',
    description: 'HTTP path the load-balancer requests to check each instance (expects 2xx/3xx). Empty: a TCP connect check.',
  },
  {
    name: 'response-timeout',
    default: '60s',
    description:
      'How long an instance may take to answer a request, e.g. `90s` or `5m`: one that takes longer gets 504. Also how long a streamed answer (server-sent events) may pause.',
  },
  {
    name: 'tunnel-timeout',
    default: '1h',
    description:
      'How long a websocket (or any upgraded connection, or a `tcp` connection) may stay idle before the load-balancer closes it, e.g. `30m` or `2h`.',
  },
  {
    name: 'drain-timeout',
    default: '30s',
    description:
      'After a reload (a deploy that changes the configuration), how long the previous HAProxy worker may finish the connections it has (long requests, websockets, event streams) before it closes them, e.g. `2m`. A deploy that retires instances waits for that worker at most this long.',
  },
  {
    name: 'env',
    description:
      'Environment variables of every instance, one `KEY=VALUE` per line (blank lines and `#` comments ignored). The value is everything after the first `=`, as written: no shell, no interpolation.',
  },
  {
    name: 'secret-env',
    secret: true,
    description:
      'Like `env`, for secret values: each is masked in the log and shown nowhere the action writes. Anyone with Docker API access to the host can still read them from the container configuration.',
  },
  {
    name: 'instance-command',
    description:
      'Command of each instance instead of the image\'s: a JSON array of strings (`["gunicorn","app:app"]`) or one line split on whitespace, never run through a shell. Empty: the image\'s command.',
  },
  {
    name: 'instance-memory',
    description:
      "Memory of each instance, e.g. `512m` or `2g`: a limit on a Docker or Podman host, the containerVM's memory on a VCH (rounded up to 128 MiB, at least 512 MiB). Empty: the host's default (a VCH: 2048 MiB).",
  },
  {
    name: 'instance-cpus',
    description:
      "CPUs of each instance, e.g. `1`, `0.5` or `2`: a limit on a Docker or Podman host, the containerVM's vCPU count on a VCH (a fraction rounds up to a whole vCPU). Empty: the host's default (a VCH: 2 vCPUs).",
  },
  {
    name: 'release-command',
    description:
      "Run once for each new generation of the instances, before any traffic moves to it (e.g. a database migration): a JSON array of strings or one line split on whitespace, never run through a shell, in a one-off container of `image` with the instances' `env`, `secret-env` and network. A non-zero exit fails the deploy and the previous generation keeps serving. Empty: none.",
  },
  {
    name: 'services',
    description:
      'Companion containers of the deployment, such as a database or a cache, as a YAML list: each with `name` (the host name the instances reach it by), `image`, and optionally `env` and `secret-env` (maps of variables; secret-env values are masked), `command`, `port` (a TCP port the deploy waits for), `volume` (a path inside the container whose data lasts as long as the deployment), `memory` and `cpus`. They start before the instances and are kept, data and all, across redeploys; teardown removes them. Empty: none.',
  },
  {
    name: 'pull',
    default: 'always',
    description:
      'When to pull `image` and `haproxy-image`: `always` (a copy on the host serves, with a warning, when the registry cannot be reached), `missing` (only when the host lacks it), `never` (fail when the host lacks it).',
  },
  { name: 'registry-username', description: 'User name for pulling private images.' },
  { name: 'registry-password', secret: true, description: 'Password or token for pulling private images.' },
  {
    name: 'wait-timeout',
    default: '300',
    description:
      "Seconds a deploy may take once it holds the deployment (the companion services accepting connections, the release command, every instance healthy behind the load-balancer), and the longest it waits for another run's deploy, teardown or prune of the same deployment to finish.",
  },
  {
    name: 'github-token',
    secret: true,
    description:
      "Token for the GitHub API, e.g. the workflow's `github.token` with `pull-requests: write` and `deployments: write`: comments on the pull request with the URL and state of its environment (one comment, updated in place), records each deploy as a GitHub deployment (see `environment`), and lets `prune` remove the deployments of closed pull requests. Empty: no comments, no GitHub deployments.",
  },
  {
    name: 'environment',
    default: 'preview',
    description:
      'With `github-token` (and `deployments: write`): the GitHub environment each deploy is recorded in as a GitHub deployment of the commit (in progress, then success with the URL or failure; inactive after teardown). One transient environment shared by every pull request leaves none to delete by hand; a per-pull-request name such as `pr-42` works too.',
  },
  {
    name: 'force',
    description:
      'For `remove-ingress`: `true` removes the ingress even while deployments are routed through it. They serve nothing until a deploy that names the ingress makes it again, with every route. Without it, `remove-ingress` refuses while any deployment is routed.',
  },
  {
    name: 'max-age',
    description: 'For `prune`: remove the deployments whose newest container or network was created longer ago than this, e.g. `90m`, `72h`, `3d`.',
  },
]

export interface TlsMaterial {
  ca?: string
  cert?: string
  key?: string
  verify: boolean
}

export interface RegistryAuth {
  username: string
  password: string
  // The X-Registry-Auth header value: it carries the password, so it is masked like it.
  header: string
}

// URL-safe base64 with padding, as the Engine decodes it.
export function registryAuthHeader(username: string, password: string): string {
  return Buffer.from(JSON.stringify({ username, password })).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
}

export interface EnvVar {
  key: string
  value: string
}

// What each instance runs with. Empty lists and absent limits keep the image's and the host's own.
export interface InstanceConfig {
  env: EnvVar[]
  secretEnv: EnvVar[]
  command?: string[]
  memoryBytes?: number
  cpus?: number
}

// A companion container of the deployment (the services input): a database, a cache. It lives on
// the deployment's network under `name` and outlives redeploys of the instances.
export interface ServiceSpec {
  // A DNS label: the instances reach the service by this name.
  name: string
  image: string
  env: EnvVar[]
  // Masked, and never in a label: only a running container of the service holds them.
  secretEnv: EnvVar[]
  command?: string[]
  // A TCP port the deploy waits for, as the load-balancer's health check sees it.
  port?: number
  // An absolute path inside the container whose data lasts as long as the deployment.
  volume?: string
  memoryBytes?: number
  cpus?: number
}

export interface LbCertificate {
  // Certificate chain and private key, as given (a secret: it goes into the load-balancer only).
  pem: string
  // Of the leaf certificate: readiness checks that the load-balancer serves this one.
  fingerprint256: string
}

// How a deployment is served through a shared ingress (src/ingress/DESIGN.md) instead of a
// load-balancer of its own.
export interface IngressSettings {
  // The ingress's container name.
  name: string
  // What the ingress matches each request's Host header against.
  hostname: string
}

export interface DeploySettings {
  image: string
  instances: number
  instancePort: number
  lbPort: number
  instancePrefix: string
  owner: string
  // Not used with ingress.
  lbName: string
  // Absent: a load-balancer of the deployment's own, lbName.
  ingress?: IngressSettings
  externalNetwork: string
  haproxyImage: string
  protocol: Protocol
  healthCheckPath: string
  registryAuth?: RegistryAuth
  waitTimeoutSeconds: number
  instanceConfig: InstanceConfig
  pull: PullPolicy
  certificate?: LbCertificate
  // Only with certificate.
  httpRedirectPort?: number
  // Only with protocol http.
  basicAuth?: Credentials[]
  allowCidrs?: string[]
  timeouts: LbTimeouts
  // Companion containers, started before the instances; empty when none.
  services: ServiceSpec[]
  // Run once per new generation in a one-off container of the new image, before traffic moves.
  releaseCommand?: string[]
}

export interface PruneSettings {
  // Which deployments prune considers: a name in which `*` matches any characters.
  deployments: string
  // Only this owner's deployments are pruned, and those from before owner labels by age alone.
  owner: string
  // Absent: age alone removes nothing, only a closed pull request does.
  maxAgeSeconds?: number
}

export interface Inputs {
  command: Command
  dockerHost: string
  tls: TlsMaterial
  instancePrefix: string
  // Who deploys: the repository, or a local name (owner.ts).
  owner: string
  // Every command holds the deployment's lock (see lock.ts): how long it waits for it, and the
  // image the lock container is preferably made from.
  waitTimeoutSeconds: number
  haproxyImage: string
  pull: PullPolicy
  githubToken: string
  // The GitHub environment of the deployment's GitHub deployments.
  environment: string
  deploy?: DeploySettings
  prune?: PruneSettings
  removeIngress?: { name: string; force: boolean }
}

// Gives an input's raw value, or undefined when it was not given at all (then its default applies).
export type InputReader = (name: string) => string | undefined

// Container and network names end up in DNS (the load-balancer resolves instances by name) and
// in the HAProxy config, so they are held to the strictest of Docker's, DNS's and HAProxy's rules.
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/
const NAME_MAX = 40
const NETWORK_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
const IMAGE_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const IMAGE_PATTERN = new RegExp(
  `^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?${IMAGE_COMPONENT}(?:/${IMAGE_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`,
)
const PATH_PATTERN = /^\/[A-Za-z0-9._~/%?&=+-]*$/
// GitHub's rules: an account of letters, digits and '-' (up to 39), a repository of letters,
// digits, '.', '_' and '-' (up to 100; not '.' or '..').
const REPOSITORY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/
const DEPLOYMENT_PATTERN = /^[A-Za-z0-9*][A-Za-z0-9_*-]*$/
const DURATION_PATTERN = /^([1-9][0-9]*)([smhd])$/
const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }
// HAProxy takes a timeout up to 2^31 - 1 ms (24 days); far shorter limits catch a wrong unit.
const DURATION_LIMITS = {
  'max-age': 365 * 86400,
  'response-timeout': 86400,
  'tunnel-timeout': 7 * 86400,
  'drain-timeout': 3600,
}
const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/
const ENV_KEY_MAX = 256
// Linux's MAX_ARG_STRLEN for one KEY=VALUE; and a total well below what execve takes (ARG_MAX).
const ENV_LINE_MAX = 131072
const ENV_TOTAL_MAX = 1048576
const COMMAND_MAX = 131072
const MEMORY_PATTERN = /^([0-9]+(?:\.[0-9]+)?)([kmgKMG])$/
const MEMORY_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }
const MEMORY_MIN = 6 * 1024 ** 2
const MEMORY_MAX = 1024 ** 4
const CPUS_PATTERN = /^(?:0|[1-9][0-9]*)(?:\.[0-9]{1,2})?$/
const CPUS_MAX = 256
// GitHub's limit; the name goes nowhere but the GitHub API.
const ENVIRONMENT_MAX = 255
// RFC 1123 host names, lower case only: the ingress lower-cases the Host header before it
// compares, so a name with an upper-case letter would never match.
const HOSTNAME_MAX = 253
const HOSTNAME_LABEL_MAX = 63
const HOSTNAME_LABEL_PATTERN = /^[a-z0-9-]+$/

export function defaultOf(name: string): string {
  return INPUT_SPECS.find((spec) => spec.name === name)?.default ?? ''
}

export function readInputs(read: InputReader, env: NodeJS.ProcessEnv = process.env): Inputs {
  const raw = (name: string): string | undefined => read(name)?.trim()
  const get = (name: string): string => raw(name) || defaultOf(name)
  const command = oneOf(get('command'), COMMANDS, 'command')
  const instancePrefix =
    command === 'prune' ? deploymentPattern(raw('instance-prefix') ?? '') : name(raw('instance-prefix') || DEFAULT_DEPLOYMENT, 'instance-prefix')
  const tls = {
    ca: raw('tls-ca-cert') || undefined,
    cert: raw('tls-cert') || undefined,
    key: raw('tls-key') || undefined,
    verify: boolean(get('tls-verify'), 'tls-verify'),
  }
  const dockerHost = raw('docker-host') ?? ''
  const password = read('registry-password') ?? ''
  const githubToken = raw('github-token') ?? ''
  const inputs: Inputs = {
    command,
    dockerHost,
    tls,
    instancePrefix,
    owner: owner(raw('owner'), env.GITHUB_REPOSITORY?.trim()),
    waitTimeoutSeconds: integer(get('wait-timeout'), 'wait-timeout', 1, 3600),
    haproxyImage: matching(get('haproxy-image'), IMAGE_PATTERN, 'haproxy-image', "an image reference such as 'haproxy:3.2'"),
    pull: oneOf(get('pull'), PULL_POLICIES, 'pull'),
    githubToken,
    environment: environmentName(get('environment')),
  }
  if (command === 'deploy') inputs.deploy = readDeploySettings(read, raw, get, instancePrefix, password, inputs)
  if (command === 'prune') inputs.prune = readPruneSettings(raw('max-age'), instancePrefix, inputs.owner, githubToken)
  if (command === 'remove-ingress') {
    const ingress = raw('ingress')
    if (!ingress) throw new InputError("Command 'remove-ingress' needs 'ingress': the name of the shared load-balancer to remove.")
    inputs.removeIngress = { name: loadBalancerName(ingress, 'ingress', instancePrefix, 'previews'), force: boolean(raw('force') || 'false', 'force') }
  }
  return inputs
}

function readPruneSettings(maxAge: string | undefined, deployments: string, owner: string, githubToken: string): PruneSettings {
  if (!maxAge && !githubToken)
    throw new InputError(
      "Prune needs 'max-age' (e.g. '72h': remove deployments older than that), 'github-token' (remove deployments of closed pull requests), or both.",
    )
  return maxAge ? { deployments, owner, maxAgeSeconds: duration(maxAge, 'max-age', "'90m', '72h' or '3d'") } : { deployments, owner }
}

function readDeploySettings(
  read: InputReader,
  raw: (name: string) => string | undefined,
  get: (name: string) => string,
  instancePrefix: string,
  password: string,
  common: Pick<Inputs, 'owner' | 'waitTimeoutSeconds' | 'haproxyImage' | 'pull'>,
): DeploySettings {
  const username = raw('registry-username') ?? ''
  const image = get('image')
  if (!image) throw new InputError("Input 'image' is required for deploy. Give an image reference such as 'nginx:1.27'.")
  if (!!username !== !!password) throw new InputError("Inputs 'registry-username' and 'registry-password' go together: give both or neither.")
  const protocol = oneOf(get('protocol'), PROTOCOLS, 'protocol')
  const healthCheckPath = get('health-check-path')
  if (healthCheckPath && protocol === 'tcp')
    throw new InputError("Input 'health-check-path' needs protocol 'http'; with 'tcp' the instances get TCP connect checks.")
  const ingress = ingressSettings(raw, protocol, instancePrefix)
  const settings: DeploySettings = {
    image: matching(image, IMAGE_PATTERN, 'image', "an image reference such as 'nginx:1.27' or 'registry.example.com:5000/team/app@sha256:<64 hex>'"),
    instances: integer(get('instances'), 'instances', 1, 100),
    instancePort: integer(get('instance-port'), 'instance-port', 1, 65535),
    lbPort: integer(get('lb-port'), 'lb-port', 1, 65535),
    instancePrefix,
    owner: common.owner,
    lbName: loadBalancerName(get('lb-name'), 'lb-name', instancePrefix, `${instancePrefix}-lb`),
    externalNetwork: externalNetwork(raw('external-network') ?? defaultOf('external-network')),
    haproxyImage: common.haproxyImage,
    protocol,
    healthCheckPath: healthCheckPath
      ? matching(healthCheckPath, PATH_PATTERN, 'health-check-path', "a URL path such as '/healthz' (letters, digits and . _ ~ / % ? & = + -)")
      : '',
    waitTimeoutSeconds: common.waitTimeoutSeconds,
    instanceConfig: readInstanceConfig(read, raw),
    pull: common.pull,
    timeouts: {
      response: duration(get('response-timeout'), 'response-timeout', "'60s', '90s' or '5m'"),
      tunnel: duration(get('tunnel-timeout'), 'tunnel-timeout', "'30m', '1h' or '2h'"),
      drain: duration(get('drain-timeout'), 'drain-timeout', "'30s', '2m' or '10m'"),
    },
    services: services(read('services') ?? '', instancePrefix),
  }
  if (ingress) settings.ingress = ingress
  // The instances could not tell the two apart by name: both resolve where they are (an ingress on
  // its network, which they join).
  const [lbInput, lb] = ingress ? ['ingress', ingress.name] : ['lb-name', settings.lbName]
  const shadowing = settings.services.find((s) => s.name === lb)
  if (shadowing)
    throw new InputError(
      `Invalid services: service '${shadowing.name}' has the name of the load-balancer (${lbInput}), and both names resolve on the instances' networks. Rename the service or choose another ${lbInput}.`,
    )
  // The deploy waits for a service's port through HAProxy's own check, and a shared ingress is on
  // no deployment's network (src/ingress/DESIGN.md).
  const waited = ingress && settings.services.find((s) => s.port !== undefined)
  if (waited)
    throw new InputError(
      `Invalid services: service '${waited.name}' has a port, which the deploy cannot wait for with 'ingress' yet (the shared ingress is on no deployment's network). Leave out its port (the instances must then retry until it accepts connections), or leave ingress empty.`,
    )
  const releaseCommand = raw('release-command')
  if (releaseCommand) settings.releaseCommand = commandArgs(releaseCommand, 'Invalid release-command')
  const certificate = raw('lb-certificate')
  if (certificate) {
    if (protocol === 'tcp')
      throw new InputError("Input 'lb-certificate' needs protocol 'http': with 'tcp' the load-balancer passes connections through and cannot serve HTTPS.")
    settings.certificate = lbCertificate(certificate)
  }
  if (settings.externalNetwork && settings.lbPort === STATS_PORT)
    throw new InputError(`Invalid lb-port ${STATS_PORT}: on an external network the load-balancer's stats page has that port. Choose another lb-port.`)
  const redirectPort = raw('http-redirect-port')
  if (redirectPort) settings.httpRedirectPort = httpRedirectPort(redirectPort, settings)
  if (username) settings.registryAuth = { username, password, header: registryAuthHeader(username, password) }
  // Not trimmed as a whole: a password's spaces are part of it, on the first and last line too.
  const basicAuth = read('basic-auth')
  if (basicAuth?.trim()) {
    if (protocol === 'tcp')
      throw new InputError(
        "Input 'basic-auth' needs protocol 'http': with 'tcp' the load-balancer passes connections through and sees no request to ask credentials of. Use allow-cidrs to limit who connects.",
      )
    settings.basicAuth = basicAuthLines(basicAuth)
  }
  const allowCidrs = raw('allow-cidrs')
  if (allowCidrs) settings.allowCidrs = cidrList(allowCidrs)
  return settings
}

// Undefined when ingress is empty. Refuses what a shared ingress cannot do for one deployment.
function ingressSettings(raw: (name: string) => string | undefined, protocol: Protocol, instancePrefix: string): IngressSettings | undefined {
  const ingress = raw('ingress')
  const hostname = raw('hostname')
  if (!ingress) {
    if (hostname)
      throw new InputError(
        "Input 'hostname' needs 'ingress': it is the name a shared ingress serves this deployment under. Give ingress, or leave hostname empty.",
      )
    return undefined
  }
  const name = loadBalancerName(ingress, 'ingress', instancePrefix, 'previews')
  if (name === instancePrefix)
    throw new InputError(
      `Invalid ingress '${name}': it is the deployment's name (instance-prefix), and the ingress's network and lock would be the deployment's own (${networkName(name)}, ${lockName(name)}). Choose another ingress, e.g. 'previews'.`,
    )
  if (!hostname)
    throw new InputError(
      "Input 'ingress' needs 'hostname': the ingress tells the deployments apart by the host name a request is for. Give hostname, e.g. 'pr-42.preview.example.com', or leave ingress empty.",
    )
  const route = { name, hostname: dnsHostname(hostname) }
  if (protocol !== 'http')
    throw new InputError(
      `Input 'ingress' needs protocol 'http': the ingress routes each request by its Host header, and with '${protocol}' it sees no request. Use protocol http, or leave ingress empty.`,
    )
  const lbName = raw('lb-name')
  if (lbName && lbName !== defaultOf('lb-name'))
    throw new InputError(
      `Input 'lb-name' is not used with 'ingress': it names a load-balancer of the deployment's own, and with an ingress there is none. Leave lb-name empty (or at its default '${defaultOf('lb-name')}'), or leave ingress empty.`,
    )
  if (raw('basic-auth'))
    throw new InputError(
      "Input 'basic-auth' is not available with 'ingress' yet: the ingress is configured from records each deployment keeps on the Docker host, so the password digests would have to be stored there, outside the load-balancer, where nothing secret is kept. Leave basic-auth empty (allow-cidrs limits who connects), or leave ingress empty.",
    )
  return route
}

// The same rules for values read back from the Docker host (a route record, src/ingress/record.ts):
// anybody who reaches the host can write one, and its values go into HAProxy's configuration.
export const RECORD_CHECKS = {
  deployment: (value: string): boolean => NAME_PATTERN.test(value) && value.length <= NAME_MAX,
  hostname: (value: string): boolean => passes(() => dnsHostname(value)),
  healthCheckPath: (value: string): boolean => value === '' || PATH_PATTERN.test(value),
  // An instance's container name (names.ts), which HAProxy also uses as the server's name.
  serverName: (value: string): boolean => NAME_PATTERN.test(value),
  cidr: (value: string): boolean => !/[\s,]/.test(value) && passes(() => cidrList(value)),
}

function passes(check: () => unknown): boolean {
  try {
    check()
    return true
  } catch {
    return false
  }
}

// What is wrong is said precisely: a host name's rules are easy to miss by one character.
function dnsHostname(value: string): string {
  const refuse = (problem: string): InputError =>
    new InputError(
      `Invalid hostname '${show(value)}': ${problem}. Expected a lower-case DNS name of at least two labels, such as 'pr-42.preview.example.com': up to ${HOSTNAME_MAX} characters, each label 1 to ${HOSTNAME_LABEL_MAX} of a-z, 0-9 and '-', not starting or ending with '-'.`,
    )
  if (value.length > HOSTNAME_MAX) throw refuse(`${value.length} characters, more than ${HOSTNAME_MAX}`)
  if (value.endsWith('.')) throw refuse('it ends with a dot; leave the dot out')
  if (/[A-Z]/.test(value)) throw refuse(`it has upper-case letters; write it as '${show(value.toLowerCase())}'`)
  const labels = value.split('.')
  if (labels.length < 2) throw refuse('it is a single label; give the full name')
  labels.forEach((label, i) => {
    const at = `label ${i + 1}`
    if (label === '') throw refuse(`${at} is empty (two dots in a row, or a dot at the start)`)
    if (label.length > HOSTNAME_LABEL_MAX) throw refuse(`${at} has ${label.length} characters, more than ${HOSTNAME_LABEL_MAX}`)
    if (!HOSTNAME_LABEL_PATTERN.test(label)) throw refuse(`${at} has a character other than a-z, 0-9 and '-'`)
    if (label.startsWith('-') || label.endsWith('-')) throw refuse(`${at} starts or ends with '-'`)
  })
  return value
}

function readInstanceConfig(read: InputReader, raw: (name: string) => string | undefined): InstanceConfig {
  // Not trimmed as a whole: a value's spaces are part of it, on the first and last line too.
  const env = envLines(read('env') ?? '', 'env')
  const secretEnv = envLines(read('secret-env') ?? '', 'secret-env')
  const keys = new Map(env.map((v) => [v.key, 'env']))
  for (const { key } of secretEnv) if (keys.has(key)) throw new InputError(`Variable ${key} is in both env and secret-env. Give it in one of them.`)
  const size = [...env, ...secretEnv].reduce((total, v) => total + v.key.length + v.value.length + 2, 0)
  if (size > ENV_TOTAL_MAX)
    throw new InputError(
      `Inputs env and secret-env hold ${size} bytes together; at most ${ENV_TOTAL_MAX} fit a container's environment. Pass large data another way (a file in the image, a volume).`,
    )
  const config: InstanceConfig = { env, secretEnv }
  const command = raw('instance-command')
  if (command) config.command = commandArgs(command, 'Invalid instance-command')
  const memory = raw('instance-memory')
  if (memory) config.memoryBytes = memoryBytes(memory)
  const cpus = raw('instance-cpus')
  if (cpus) config.cpus = cpuCount(cpus)
  return config
}

// One KEY=VALUE per line. Errors give the line number and never the line: in secret-env any part
// of it may be a secret, and in env a value may be one by mistake.
function envLines(text: string, input: string): EnvVar[] {
  const vars: EnvVar[] = []
  const seen = new Map<string, number>()
  text.split(/\r?\n/).forEach((line, i) => {
    const at = `Invalid ${input}, line ${i + 1}:`
    const entry = line.replace(/^[ \t]+/, '')
    if (entry.trim() === '' || entry.startsWith('#')) return
    const equals = entry.indexOf('=')
    if (equals < 0) throw new InputError(`${at} no '='. Expected KEY=VALUE (the line is not shown here).`)
    const variable = envVar(entry.slice(0, equals), entry.slice(equals + 1), at, 'KEY=VALUE', '(the line is not shown here)')
    const earlier = seen.get(variable.key)
    if (earlier !== undefined) throw new InputError(`${at} ${variable.key} is already set on line ${earlier}. Give each variable once.`)
    seen.set(variable.key, i + 1)
    vars.push(variable)
  })
  return vars
}

// One variable checked as a container's environment takes it; the key is shown only once valid.
function envVar(key: string, value: string, at: string, form: string, notShown: string): EnvVar {
  if (!ENV_KEY_PATTERN.test(key) || key.length > ENV_KEY_MAX)
    throw new InputError(
      `${at} the key is not a variable name. Expected ${form} with KEY of letters, digits and '_', not starting with a digit, up to ${ENV_KEY_MAX} characters ${notShown}.`,
    )
  if (value.includes('\0')) throw new InputError(`${at} the value of ${key} holds a NUL character, which no environment variable can hold.`)
  if (key.length + value.length + 1 > ENV_LINE_MAX)
    throw new InputError(`${at} ${key} is longer than ${ENV_LINE_MAX} bytes, Linux's limit for one environment variable.`)
  return { key, value }
}

const SERVICES_MAX = 20
const SERVICES_TEXT_MAX = 1024 ** 2
const SERVICE_NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const VOLUME_PATH_PATTERN = /^\/[A-Za-z0-9._@+-]+(?:\/[A-Za-z0-9._@+-]+)*\/?$/
const SERVICE_FIELDS = ['name', 'image', 'env', 'secret-env', 'command', 'port', 'volume', 'memory', 'cpus']

// The services input: a YAML list of companion containers. Every error names the service (or its
// place in the list) and the field, never a value: secret-env holds secrets, and any other field
// may by mistake.
function services(text: string, instancePrefix: string): ServiceSpec[] {
  if (text.trim() === '') return []
  if (text.length > SERVICES_TEXT_MAX) throw new InputError(`Invalid services: longer than ${SERVICES_TEXT_MAX} characters.`)
  const document = parseDocument(text, { uniqueKeys: true })
  const [problem] = [...document.errors, ...document.warnings]
  // The parser's own message quotes the text around the problem: only its place and kind are said.
  if (problem)
    throw new InputError(
      `Invalid services: not valid YAML (${problem.code}${problem.linePos ? ` at line ${problem.linePos[0].line}, column ${problem.linePos[0].col}` : ''}). Expected a list of services such as '- name: db' / '  image: postgres:16'.`,
    )
  const list: unknown = document.toJS({ maxAliasCount: 10 })
  if (!Array.isArray(list) || list.length === 0) throw new InputError("Invalid services: expected a YAML list of services, each starting with '- name: ...'.")
  if (list.length > SERVICES_MAX) throw new InputError(`Invalid services: ${list.length} services, at most ${SERVICES_MAX}.`)
  const specs = list.map((item, i) => service(item, i + 1, instancePrefix))
  specs.forEach((spec, i) => {
    if (specs.findIndex((other) => other.name === spec.name) !== i)
      throw new InputError(`Invalid services: the name '${spec.name}' is given twice. Give each service its own name.`)
  })
  return specs
}

function service(item: unknown, place: number, instancePrefix: string): ServiceSpec {
  if (!isRecord(item))
    throw new InputError(`Invalid services, item ${place}: not a map of fields. Expected fields such as 'name: db' and 'image: postgres:16'.`)
  const rawName = item.name
  if (typeof rawName !== 'string' || !SERVICE_NAME_PATTERN.test(rawName) || rawName.startsWith(`${instancePrefix}-`) || rawName === lockName(instancePrefix))
    throw new InputError(
      `Invalid services, item ${place}, field 'name': expected the host name the instances reach the service by, a DNS label of 1 to 63 lower-case letters, digits and '-' starting with a letter, such as 'db' (not starting with '${instancePrefix}-', which the deployment's own containers use).`,
    )
  const at = (field: string) => `Invalid services: service '${rawName}', field '${field}'`
  const unknown = Object.keys(item).find((field) => !SERVICE_FIELDS.includes(field))
  if (unknown !== undefined)
    throw new InputError(
      `Invalid services: service '${rawName}' has a field that is not known${/^[a-z-]{1,20}$/.test(unknown) ? ` ('${unknown}')` : ''}. Known fields: ${SERVICE_FIELDS.join(', ')}.`,
    )
  const image = item.image
  if (typeof image !== 'string' || !IMAGE_PATTERN.test(image))
    throw new InputError(`${at('image')}: expected an image reference such as 'postgres:16' or 'registry.example.com/team/redis:7'.`)
  const spec: ServiceSpec = { name: rawName, image, env: envMap(item.env, at('env')), secretEnv: envMap(item['secret-env'], at('secret-env')) }
  for (const { key } of spec.secretEnv)
    if (spec.env.some((v) => v.key === key)) throw new InputError(`${at('secret-env')}: variable ${key} is in env too. Give it in one of them.`)
  const size = [...spec.env, ...spec.secretEnv].reduce((total, v) => total + v.key.length + v.value.length + 2, 0)
  if (size > ENV_TOTAL_MAX)
    throw new InputError(
      `Invalid services: service '${rawName}': env and secret-env hold ${size} bytes together; at most ${ENV_TOTAL_MAX} fit a container's environment.`,
    )
  const { command, port, volume, memory, cpus } = item
  if (command !== undefined && command !== null)
    spec.command =
      typeof command === 'string'
        ? commandArgs(command.trim(), at('command'))
        : checkedArgs(command, at('command'), `Expected a list of strings such as '["redis-server","--appendonly","yes"]', or one line of words`)
  if (port !== undefined && port !== null) {
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
      throw new InputError(`${at('port')}: expected the TCP port the service listens on, a whole number from 1 to 65535, such as 5432.`)
    spec.port = port as number
  }
  if (volume !== undefined && volume !== null) {
    if (typeof volume !== 'string' || !VOLUME_PATH_PATTERN.test(volume) || volume.split('/').some((part) => part === '.' || part === '..'))
      throw new InputError(
        `${at('volume')}: expected an absolute path inside the container, such as '/var/lib/postgresql/data' (letters, digits and . _ @ + - between the slashes; not '/' alone, no '.' or '..').`,
      )
    spec.volume = volume.replace(/\/$/, '')
  }
  if (memory !== undefined && memory !== null) spec.memoryBytes = memoryBytes(String(memory), at('memory'))
  if (cpus !== undefined && cpus !== null) spec.cpus = cpuCount(String(cpus), at('cpus'))
  return spec
}

// A map of variable names to values; numbers and booleans are taken as YAML wrote them.
function envMap(value: unknown, at: string): EnvVar[] {
  if (value === undefined || value === null) return []
  if (!isRecord(value)) throw new InputError(`${at}: expected a map of variables, such as 'POSTGRES_DB: app' on its own line (values are not shown here).`)
  return Object.entries(value).map(([key, v]) => {
    if (!['string', 'number', 'boolean'].includes(typeof v))
      throw new InputError(`${at}: the value of a variable is not a string, number or boolean (values are not shown here).`)
    return envVar(key, String(v), `${at}:`, 'KEY: value', '(values are not shown here)')
  })
}

// Every services secret-env value, to be masked before the input is checked (main.ts): read as
// leniently as the YAML allows, so that a service refused for another field has its secrets masked.
export function serviceSecretValues(text: string): string[] {
  if (text.trim() === '' || text.length > SERVICES_TEXT_MAX) return []
  let list: unknown
  try {
    list = parseDocument(text, { prettyErrors: false }).toJS({ maxAliasCount: 10 })
  } catch {
    return []
  }
  if (!Array.isArray(list)) return []
  return list.flatMap((item) => {
    const secrets = isRecord(item) ? item['secret-env'] : undefined
    return isRecord(secrets)
      ? Object.values(secrets)
          .filter((v) => ['string', 'number'].includes(typeof v))
          .map(String)
      : []
  })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// A program and its arguments: a JSON array of strings, or one line split on spaces. `at` begins
// each error (which input, or which service's field).
function commandArgs(value: string, at: string): string[] {
  const expected = `Expected a JSON array of strings such as '["gunicorn","app:app"]', or one line of words separated by spaces (never run through a shell)`
  let args: unknown
  if (value.startsWith('[')) {
    try {
      args = JSON.parse(value)
    } catch {
      throw new InputError(`${at}: it starts with '[' but is not valid JSON. ${expected}.`)
    }
  } else {
    if (/[\r\n]/.test(value)) throw new InputError(`${at}: it has more than one line. ${expected}.`)
    args = value.split(/[ \t]+/)
  }
  if (value.length > COMMAND_MAX) throw new InputError(`${at}: longer than ${COMMAND_MAX} characters.`)
  return checkedArgs(args, at, expected)
}

function checkedArgs(args: unknown, at: string, expected: string): string[] {
  if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string'))
    throw new InputError(`${at}: the JSON is not a non-empty array of strings. ${expected}.`)
  if (args[0] === '') throw new InputError(`${at}: the program name is empty. ${expected}.`)
  if (args.some((a: string) => a.includes('\0'))) throw new InputError(`${at}: it holds a NUL character, which no program argument can hold.`)
  return args as string[]
}

function memoryBytes(value: string, at = `Invalid instance-memory '${show(value)}'`): number {
  const match = MEMORY_PATTERN.exec(value)
  const bytes = match ? Math.ceil(Number(match[1]) * MEMORY_UNITS[match[2]!.toLowerCase()]!) : NaN
  if (!(bytes >= MEMORY_MIN && bytes <= MEMORY_MAX))
    throw new InputError(`${at}. Expected a size with the unit k, m or g, such as '512m' or '2g', from 6m (the Docker Engine's minimum) to 1024g.`)
  return bytes
}

function cpuCount(value: string, at = `Invalid instance-cpus '${show(value)}'`): number {
  const cpus = Number(value)
  if (!CPUS_PATTERN.test(value) || !(cpus >= 0.01 && cpus <= CPUS_MAX))
    throw new InputError(`${at}. Expected a number of CPUs from 0.01 to ${CPUS_MAX} with at most two decimals, such as '1', '0.5' or '2'.`)
  return cpus
}

// Everything HAProxy needs and finds wrong at start, found here instead: one private key, the
// certificate it belongs to first. Nothing of the value is quoted back: it is a secret.
function lbCertificate(value: string): LbCertificate {
  const refuse = (problem: string): InputError =>
    new InputError(
      `Invalid lb-certificate: ${problem}. Expected the PEM certificate chain (the server's certificate first) and its unencrypted private key in one value.`,
    )
  if (value.includes('\0')) throw refuse('it holds a NUL character')
  const [leafPem, ...chain] = value.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
  const keys = value.match(/-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g) ?? []
  if (!leafPem) throw refuse('no PEM certificate (-----BEGIN CERTIFICATE-----) found')
  const [keyPem] = keys
  if (!keyPem || keys.length > 1)
    throw refuse(keyPem ? `${keys.length} private keys found, one expected` : 'no PEM private key (-----BEGIN PRIVATE KEY-----) found')
  if (keyPem.startsWith('-----BEGIN ENCRYPTED')) throw refuse('the private key is encrypted, and HAProxy cannot ask for its passphrase')
  const parsed = <T>(parse: () => T, problem: string): T => {
    try {
      return parse()
    } catch {
      throw refuse(problem)
    }
  }
  const leaf = parsed(() => new X509Certificate(leafPem), 'the first certificate cannot be parsed')
  chain.forEach((pem, i) => parsed(() => new X509Certificate(pem), `certificate ${i + 2} of the chain cannot be parsed`))
  const key = parsed(() => createPrivateKey(keyPem), 'the private key cannot be parsed')
  if (!leaf.checkPrivateKey(key)) throw refuse('the private key does not belong to the first certificate')
  return { pem: `${value.trim()}\n`, fingerprint256: leaf.fingerprint256 }
}

// Printable ASCII only: browsers encode other characters of Basic credentials differently (UTF-8
// or Latin-1), so such a password would work in one and not in another.
const USER_PATTERN = /^[\x21-\x39\x3b-\x7e]{1,128}$/
const PASSWORD_PATTERN = /^[\x20-\x7e]{8,256}$/
const BASIC_AUTH_MAX = 1000

// One user:password per line, the user up to the first ':'. Errors give the line number and never
// the line: all of it is a secret.
function basicAuthLines(text: string): Credentials[] {
  const credentials: Credentials[] = []
  const seen = new Map<string, number>()
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return
    const at = `Invalid basic-auth, line ${i + 1}:`
    const colon = line.indexOf(':')
    if (colon < 0) throw new InputError(`${at} no ':'. Expected user:password (the line is not shown here).`)
    const user = line.slice(0, colon)
    const password = line.slice(colon + 1)
    if (!USER_PATTERN.test(user)) throw new InputError(`${at} the user is not 1 to 128 printable ASCII characters without spaces (the line is not shown here).`)
    if (!PASSWORD_PATTERN.test(password))
      throw new InputError(
        `${at} the password is not 8 to 256 printable ASCII characters (spaces allowed). Use a long random one (the line is not shown here).`,
      )
    const earlier = seen.get(user)
    if (earlier !== undefined) throw new InputError(`${at} the user is already given on line ${earlier}. Give each user once.`)
    seen.set(user, i + 1)
    credentials.push({ user, password })
  })
  if (credentials.length > BASIC_AUTH_MAX) throw new InputError(`Invalid basic-auth: ${credentials.length} users, at most ${BASIC_AUTH_MAX}.`)
  return credentials
}

const CIDRS_MAX = 1000

// Each entry an IPv4 or IPv6 address, optionally with a prefix length in range for its family.
// Node parses the address (isIP) and checks the prefix (BlockList), so that HAProxy gets only
// what both agree is a network.
function cidrList(text: string): string[] {
  const entries = text.split(/[\s,]+/).filter((entry) => entry !== '')
  // Separators alone would render a rule that refers to no network.
  if (entries.length === 0)
    throw new InputError(
      "Invalid allow-cidrs: it names no network. Give one or more, such as '203.0.113.0/24', or leave allow-cidrs empty to allow every source.",
    )
  if (entries.length > CIDRS_MAX) throw new InputError(`Invalid allow-cidrs: ${entries.length} entries, at most ${CIDRS_MAX}.`)
  return entries.map((entry, i) => {
    const [address, prefix, extra] = entry.split('/')
    const family = isIP(address!)
    const bits = family === 4 ? 32 : 128
    const refuse = (problem: string): InputError =>
      new InputError(
        `Invalid allow-cidrs, entry ${i + 1}: ${problem}. Expected IPv4 or IPv6 networks such as '203.0.113.0/24' or '2001:db8::/32' (or single addresses), separated by commas, spaces or newlines.`,
      )
    if (family === 0 || address!.includes('%')) throw refuse('not an IP address')
    if (extra !== undefined || (prefix !== undefined && !/^(?:0|[1-9][0-9]{0,2})$/.test(prefix)))
      throw refuse(`the prefix length is not a number from 0 to ${bits}`)
    try {
      new BlockList().addSubnet(address!, Number(prefix ?? bits), family === 4 ? 'ipv4' : 'ipv6')
    } catch {
      throw refuse(`the prefix length is not a number from 0 to ${bits}`)
    }
    return entry
  })
}

function httpRedirectPort(value: string, settings: DeploySettings): number {
  const port = integer(value, 'http-redirect-port', 1, 65535)
  if (!settings.certificate)
    throw new InputError(
      "Input 'http-redirect-port' needs 'lb-certificate': it redirects plain HTTP to the HTTPS that the certificate serves on lb-port. Give lb-certificate, or leave http-redirect-port empty.",
    )
  if (port === settings.lbPort)
    throw new InputError(`Invalid http-redirect-port ${port}: lb-port serves HTTPS there. Choose another port for the redirect, e.g. 80 beside lb-port 443.`)
  if (settings.externalNetwork && port === STATS_PORT)
    throw new InputError(`Invalid http-redirect-port ${STATS_PORT}: on an external network the load-balancer's stats page has that port. Choose another port.`)
  return port
}

// Unlike the other inputs, an empty external-network is a choice: publish on the Docker host.
function externalNetwork(value: string): string {
  if (value === '') return ''
  return matching(value, NETWORK_PATTERN, 'external-network', "a Docker network name (letters, digits, _ . -), or '' to publish lb-port on the Docker host")
}

// A load-balancer's container name, given as `input` (errors suggest `example`). The deployment's
// lock container is named after it too, so the load-balancer cannot have that name.
function loadBalancerName(value: string, input: string, instancePrefix: string, example: string): string {
  const lb = name(value, input)
  if (lb === lockName(instancePrefix))
    throw new InputError(
      `Invalid ${input} '${lb}': that name is taken by the lock of deployment '${instancePrefix}'. Choose another ${input}, e.g. '${example}'.`,
    )
  // Companion services' containers (and their volumes) are named `<instance-prefix>-svc-<name>`.
  if (lb.startsWith(serviceContainerName(instancePrefix, '')))
    throw new InputError(
      `Invalid ${input} '${lb}': names starting with '${serviceContainerName(instancePrefix, '')}' are kept for the companion services of deployment '${instancePrefix}'. Choose another ${input}, e.g. '${example}'.`,
    )
  return lb
}

// Given, else the workflow's repository, else local; GITHUB_REPOSITORY is held to the same rules,
// since it may come from a person's shell.
function owner(given: string | undefined, repository: string | undefined): string {
  const value = given || repository || LOCAL_OWNER
  if (REPOSITORY_PATTERN.test(value) || (NAME_PATTERN.test(value) && value.length <= NAME_MAX)) return value
  throw new InputError(
    `Invalid owner '${show(value)}'${given ? '' : ' (from GITHUB_REPOSITORY)'}. Expected a repository as 'owner/repo' (the owner up to 39 letters, digits or '-'; the repository up to 100 letters, digits, '.', '_' or '-'), or a local name of up to ${NAME_MAX} letters, digits, '_' or '-' such as '${LOCAL_OWNER}'.`,
  )
}

function deploymentPattern(value: string): string {
  if (value === '')
    throw new InputError(
      "Input 'instance-prefix' is required for prune: give the deployments to consider, with '*' matching any characters, e.g. 'pr-*' ('*' alone: every deployment on the Docker host).",
    )
  if (DEPLOYMENT_PATTERN.test(value) && value.length <= NAME_MAX) return value
  throw new InputError(
    `Invalid instance-prefix '${show(value)}' for prune. Expected the deployments to consider: up to ${NAME_MAX} letters, digits, '_' or '-', with '*' matching any characters, e.g. 'pr-*' ('*' alone: every deployment on the Docker host).`,
  )
}

function duration(value: string, input: keyof typeof DURATION_LIMITS, examples: string): number {
  const match = DURATION_PATTERN.exec(value)
  const seconds = match ? Number(match[1]) * DURATION_UNITS[match[2]] : NaN
  const max = DURATION_LIMITS[input]
  if (!(seconds <= max)) {
    const unit = ['d', 'h', 'm', 's'].find((u) => max % DURATION_UNITS[u] === 0)!
    throw new InputError(
      `Invalid ${input} '${show(value)}'. Expected a whole number and one unit, s, m, h or d, such as ${examples} (at most ${max / DURATION_UNITS[unit]}${unit}).`,
    )
  }
  return seconds
}

function oneOf<T extends string>(value: string, allowed: readonly T[], input: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new InputError(`Invalid ${input} '${show(value)}'. Expected one of: ${allowed.join(', ')}.`)
}

// YAML 1.2's core schema spellings, as @actions/core's getBooleanInput takes them.
function boolean(value: string, input: string): boolean {
  if (['true', 'True', 'TRUE'].includes(value)) return true
  if (['false', 'False', 'FALSE'].includes(value)) return false
  throw new InputError(`Invalid ${input} '${show(value)}'. Expected 'true' or 'false'.`)
}

function integer(value: string, input: string, min: number, max: number): number {
  const n = Number(value)
  if (!/^[1-9][0-9]*$/.test(value) || n < min || n > max)
    throw new InputError(`Invalid ${input} '${show(value)}'. Expected a whole number from ${min} to ${max}, written without sign or leading zeros.`)
  return n
}

function environmentName(value: string): string {
  if (value.length > ENVIRONMENT_MAX || /[\p{Cc}]/u.test(value))
    throw new InputError(`Invalid environment: at most ${ENVIRONMENT_MAX} characters and no control characters, e.g. 'preview' or 'pr-42'.`)
  return value
}

function name(value: string, input: string): string {
  if (NAME_PATTERN.test(value) && value.length <= NAME_MAX) return value
  throw new InputError(`Invalid ${input} '${show(value)}'. Expected up to ${NAME_MAX} letters, digits, '_' or '-', starting with a letter or digit.`)
}

function matching(value: string, pattern: RegExp, input: string, expected: string): string {
  if (pattern.test(value) && value.length <= 255) return value
  throw new InputError(`Invalid ${input} '${show(value)}'. Expected ${expected}.`)
}

// Quote a rejected value without letting control characters or a huge paste into the log; also
// escaped: line separators and bidi overrides that would make the log line read differently.
function show(value: string): string {
  const printable = JSON.stringify(value)
    .slice(1, -1)
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`)
  return printable.length > 80 ? `${printable.slice(0, 77)}...` : printable
}
