import { describe, expect, it } from 'vitest'
import { COMMANDS, DEFAULT_HAPROXY_IMAGE, INPUT_SPECS, defaultOf, readInputs, serviceSecretValues, type DeploySettings, type Inputs } from '../src/inputs'
import { selfSignedPem } from '../test-support/certificate'
import { InputError } from '../src/errors'
import { lockName } from '../src/names'

type Values = Record<string, string | undefined>

// The runner gives an input's value, or nothing when the workflow did not set it.
function reader(values: Values): (name: string) => string | undefined {
  return (name) => values[name]
}

// Outside a workflow run: no GITHUB_REPOSITORY, whatever the environment running the tests has.
function parse(values: Values, env: NodeJS.ProcessEnv = {}): Inputs {
  return readInputs(reader(values), env)
}

function deploySettings(values: Values): DeploySettings {
  const inputs = parse({ image: 'nginx:1.27', ...values })
  expect(inputs.deploy).toBeDefined()
  return inputs.deploy!
}

// Runs readInputs expecting it to refuse, and returns the error for further checks. Every refusal
// must be an InputError that names the input, so the user knows which `with:` line to fix.
function refusal(values: Values, input: string): InputError {
  let caught: unknown
  try {
    readInputs(reader(values), {})
  } catch (error) {
    caught = error
  }
  expect(caught, `expected ${JSON.stringify(values)} to be refused`).toBeInstanceOf(InputError)
  const error = caught as InputError
  expect(error.message).toContain(input)
  return error
}

// The value as an error message may quote it: control characters escaped, never raw, and a long
// value cut short (so only its start is looked for then).
function shown(value: string): string {
  const escaped = JSON.stringify(value.trim()).slice(1, -1)
  return escaped.length <= 60 ? `'${escaped}'` : `'${escaped.slice(0, 60)}`
}

describe('readInputs: defaults', () => {
  // How each input with a default shows in the parsed result (numbers as numbers).
  const parsedValue: Record<string, (inputs: Inputs) => unknown> = {
    command: (i) => i.command,
    'tls-verify': (i) => String(i.tls.verify),
    instances: (i) => String(i.deploy!.instances),
    'instance-port': (i) => String(i.deploy!.instancePort),
    'lb-port': (i) => String(i.deploy!.lbPort),
    'lb-name': (i) => i.deploy!.lbName,
    'external-network': (i) => i.deploy!.externalNetwork,
    'haproxy-image': (i) => i.deploy!.haproxyImage,
    protocol: (i) => i.deploy!.protocol,
    'wait-timeout': (i) => String(i.deploy!.waitTimeoutSeconds),
    pull: (i) => i.deploy!.pull,
    'response-timeout': (i) => `${i.deploy!.timeouts.response}s`,
    'tunnel-timeout': (i) => `${i.deploy!.timeouts.tunnel / 3600}h`,
    'drain-timeout': (i) => `${i.deploy!.timeouts.drain}s`,
    environment: (i) => i.environment,
  }

  it('knows how every input with a default is parsed (extend this table when adding one)', () => {
    const withDefaults = INPUT_SPECS.filter((s) => s.default !== undefined).map((s) => s.name)
    expect(Object.keys(parsedValue).sort()).toEqual([...withDefaults].sort())
  })

  it('applies every default of INPUT_SPECS when the input is absent', () => {
    const inputs = parse({ image: 'nginx' })
    for (const spec of INPUT_SPECS.filter((s) => s.default !== undefined)) {
      expect(parsedValue[spec.name](inputs), spec.name).toBe(spec.default)
      expect(defaultOf(spec.name)).toBe(spec.default)
    }
  })

  it('has sensible defaults: deploy 3 instances of port 80 behind lb on port 80, http, verified TLS, pinned HAProxy', () => {
    const inputs = parse({ image: 'nginx' })
    expect(inputs.command).toBe('deploy')
    expect(inputs.dockerHost).toBe('')
    expect(inputs.tls).toEqual({ ca: undefined, cert: undefined, key: undefined, verify: true })
    expect(inputs.deploy).toEqual({
      image: 'nginx',
      instances: 3,
      instancePort: 80,
      lbPort: 80,
      instancePrefix: 'web',
      owner: 'local',
      lbName: 'lb',
      externalNetwork: 'routable',
      haproxyImage: DEFAULT_HAPROXY_IMAGE,
      protocol: 'http',
      healthCheckPath: '',
      waitTimeoutSeconds: 300,
      instanceConfig: { env: [], secretEnv: [] },
      pull: 'always',
      timeouts: { response: 60, tunnel: 3600, drain: 30 },
      services: [],
    })
    // A pinned branch, never a moving tag.
    expect(DEFAULT_HAPROXY_IMAGE).toMatch(/^haproxy:\d+\.\d+$/)
  })

  it('treats an input given as empty like an absent one (except external-network)', () => {
    const empty: Values = Object.fromEntries(INPUT_SPECS.map((s) => [s.name, '']))
    const inputs = parse({ ...empty, image: 'nginx' })
    const absent = parse({ image: 'nginx' })
    expect(inputs.command).toBe(absent.command)
    expect(inputs.tls).toEqual(absent.tls)
    expect(inputs.instancePrefix).toBe(absent.instancePrefix)
    expect({ ...inputs.deploy, externalNetwork: 'x' }).toEqual({ ...absent.deploy, externalNetwork: 'x' })
    expect(inputs.deploy!.externalNetwork).toBe('')
  })

  it('reads only inputs that INPUT_SPECS (and so action.yml) declares', () => {
    const asked = new Set<string>()
    const declared = new Set(INPUT_SPECS.map((s) => s.name))
    const everything: Values = {
      command: 'deploy',
      'docker-host': 'tcp://h:2376',
      'tls-ca-cert': 'ca',
      'tls-cert': 'cert',
      'tls-key': 'key',
      image: 'nginx',
      'health-check-path': '/healthz',
      'registry-username': 'u',
      'registry-password': 'p',
    }
    readInputs((name) => {
      asked.add(name)
      return everything[name]
    })
    for (const name of asked) expect(declared.has(name), `reads undeclared input '${name}'`).toBe(true)
  })

  it('trims surrounding whitespace as @actions/core getInput does', () => {
    const settings = deploySettings({ instances: ' 3', 'lb-port': '8080\n', image: ' nginx:1.27 ', 'instance-prefix': ' pr-42 ' })
    expect(settings.instances).toBe(3)
    expect(settings.lbPort).toBe(8080)
    expect(settings.image).toBe('nginx:1.27')
    expect(settings.instancePrefix).toBe('pr-42')
  })
})

describe('readInputs: command', () => {
  it('knows deploy, teardown, prune and remove-ingress', () => {
    expect([...COMMANDS].sort()).toEqual(['deploy', 'prune', 'remove-ingress', 'teardown'])
  })

  it.each([...COMMANDS])('accepts %s', (command) => {
    expect(parse({ command, image: 'nginx', 'max-age': '1d', 'instance-prefix': 'pr-1', ingress: 'previews', hostname: HOSTNAME }).command).toBe(command)
  })

  it('remove-ingress needs the ingress, and is forced only when told', () => {
    expect(refusal({ command: 'remove-ingress' }, 'ingress').message).toContain("Command 'remove-ingress' needs 'ingress'")
    expect(parse({ command: 'remove-ingress', ingress: 'previews' }).removeIngress).toEqual({ name: 'previews', force: false })
    expect(parse({ command: 'remove-ingress', ingress: 'previews', force: 'true' }).removeIngress).toEqual({ name: 'previews', force: true })
  })

  it.each(['Deploy', 'destroy', 'deploy teardown', 'undeploy'])('refuses %j and lists the commands', (command) => {
    const error = refusal({ command, image: 'nginx' }, 'command')
    expect(error.message).toContain(command)
    for (const known of COMMANDS) expect(error.message).toContain(known)
  })

  it('teardown needs no image and reads no deploy settings', () => {
    const inputs = parse({ command: 'teardown', 'instance-prefix': 'pr-7' })
    expect(inputs.command).toBe('teardown')
    expect(inputs.instancePrefix).toBe('pr-7')
    expect(inputs.deploy).toBeUndefined()
    expect(inputs.prune).toBeUndefined()
  })

  it('teardown ignores deploy-only inputs, even invalid ones', () => {
    const inputs = parse({ command: 'teardown', instances: 'lots', 'registry-username': 'only-me', protocol: 'udp', 'lb-name': 'no good' })
    expect(inputs.deploy).toBeUndefined()
  })

  it('teardown still checks instance-prefix, which names what it removes', () => {
    refusal({ command: 'teardown', 'instance-prefix': 'pr 7' }, 'instance-prefix')
    refusal({ command: 'teardown', 'instance-prefix': 'pr-*' }, 'instance-prefix')
  })

  it('deploy requires image and says so with an example', () => {
    const error = refusal({ command: 'deploy' }, 'image')
    expect(error.message).toMatch(/required/)
    expect(error.message).toMatch(/nginx/)
    refusal({ image: '   ' }, 'image')
  })
})

describe('readInputs: prune', () => {
  const prune = (values: Values) => parse({ command: 'prune', 'instance-prefix': 'pr-*', ...values })

  it('needs no image and reads no deploy settings', () => {
    const inputs = prune({ 'max-age': '3d', instances: 'lots' })
    expect(inputs.deploy).toBeUndefined()
    expect(inputs.prune).toBeDefined()
  })

  it.each([
    ['45s', 45],
    ['90m', 90 * 60],
    ['72h', 72 * 3600],
    ['3d', 3 * 86400],
    ['365d', 365 * 86400],
    [' 1h ', 3600],
  ])('max-age %j is %i seconds', (maxAge, seconds) => {
    expect(prune({ 'max-age': maxAge }).prune!.maxAgeSeconds).toBe(seconds)
  })

  it.each(['366d', '0h', '01h', '1.5h', '72', 'h', '72H', '3 d', '-1d', '1w', '1h30m', 'forever', '9'.repeat(20) + 's'])(
    'refuses max-age %j, with examples and the limit',
    (maxAge) => {
      const error = refusal({ command: 'prune', 'instance-prefix': 'pr-*', 'max-age': maxAge }, 'max-age')
      expect(error.message).toContain(shown(maxAge))
      expect(error.message).toMatch(/'72h'|'3d'/)
      expect(error.message).toContain('365d')
    },
  )

  it('takes any GitHub environment name for every command, one per pull request too', () => {
    expect(parse({ command: 'teardown' }).environment).toBe('preview')
    expect(parse({ image: 'nginx', environment: ' pr-42 ' }).environment).toBe('pr-42')
    expect(prune({ 'max-age': '1d', environment: 'Preview / PR 42' }).environment).toBe('Preview / PR 42')
  })

  it.each(['x'.repeat(256), 'pr\n42'])('refuses environment %j, saying what a name may be', (environment) => {
    const error = refusal({ command: 'teardown', environment }, 'environment')
    expect(error.message).toContain('255 characters')
  })

  it('needs max-age, github-token or both, and says so', () => {
    const error = refusal({ command: 'prune', 'instance-prefix': 'pr-*' }, 'max-age')
    expect(error.message).toContain('github-token')
    expect(prune({ 'github-token': 'ghs_x', 'instance-prefix': 'pr-*' }).prune).toEqual({ deployments: 'pr-*', owner: 'local' })
    expect(prune({ 'github-token': 'ghs_x', 'max-age': '1d', 'instance-prefix': 'pr-*' }).prune).toEqual({
      deployments: 'pr-*',
      owner: 'local',
      maxAgeSeconds: 86400,
    })
  })

  it.each([undefined, '', '  '])('refuses instance-prefix %j: prune never guesses which deployments to remove', (value) => {
    const error = refusal({ command: 'prune', 'max-age': '1d', 'instance-prefix': value }, 'instance-prefix')
    expect(error.message).toContain("'pr-*'")
  })

  it('deploy and teardown default to the deployment web', () => {
    expect(parse({ command: 'teardown' }).instancePrefix).toBe('web')
    expect(parse({ command: 'teardown', 'instance-prefix': '' }).instancePrefix).toBe('web')
  })

  it.each(['*', 'pr-*', '*-preview', 'a*b*c', 'pr-42', '*'.repeat(40)])('takes instance-prefix %j as the deployments to consider', (pattern) => {
    const inputs = prune({ 'instance-prefix': pattern, 'max-age': '1d' })
    expect(inputs.prune!.deployments).toBe(pattern)
  })

  it.each(['pr-?', 'pr.*', '-*', 'pr *', 'pr-[0-9]*', '*'.repeat(41), 'pr/*'])('refuses the pattern %j', (pattern) => {
    const error = refusal({ command: 'prune', 'instance-prefix': pattern, 'max-age': '1d' }, 'instance-prefix')
    expect(error.message).toContain(shown(pattern))
    expect(error.message).toContain("'pr-*'")
  })
})

describe('readInputs: instances, ports and wait-timeout', () => {
  const numeric: { input: string; field: keyof DeploySettings; min: number; max: number }[] = [
    { input: 'instances', field: 'instances', min: 1, max: 100 },
    { input: 'instance-port', field: 'instancePort', min: 1, max: 65535 },
    { input: 'lb-port', field: 'lbPort', min: 1, max: 65535 },
    { input: 'wait-timeout', field: 'waitTimeoutSeconds', min: 1, max: 3600 },
  ]

  for (const { input, field, min, max } of numeric) {
    describe(input, () => {
      it(`accepts ${min}, ${max} and a value in between`, () => {
        const middle = Math.floor((min + max) / 2)
        for (const n of [min, middle, max]) expect(deploySettings({ [input]: String(n) })[field]).toBe(n)
      })

      it.each([String(min - 1), String(max + 1), `0${min + 1}`, `+${min + 1}`, '-1', `${min}.0`, 'abc', '1e2', '0x10', '1 0', '１', 'Infinity'])(
        'refuses %j, quoting it and the accepted range',
        (value) => {
          const error = refusal({ image: 'nginx', [input]: value }, input)
          expect(error.message).toContain(shown(value))
          expect(error.message).toContain(`from ${min} to ${max}`)
          expect(error.message).toMatch(/whole number/)
        },
      )
    })
  }

  it('instances: the values of the brief', () => {
    expect(deploySettings({ instances: '3' }).instances).toBe(3)
    // Surrounding whitespace is trimmed like @actions/core does; inside a number it is refused.
    expect(deploySettings({ instances: ' 3' }).instances).toBe(3)
    for (const bad of ['0', '101', '03', '+3', '-1', '3.0', 'abc', '3 3']) refusal({ image: 'nginx', instances: bad }, 'instances')
  })
})

const HOSTNAME = 'pr-42.preview.example.com'

describe('readInputs: instance-prefix, lb-name and ingress', () => {
  const valid = ['web', 'pr-42', 'A_b-9', '9lives', 'x'.repeat(40)]
  const invalid = ['my app', 'a\nb', 'a#b', 'a$b', 'a.b', 'café', 'ü', 'x'.repeat(41), '-web', '_web', 'a/b', 'a:b', "a'b", 'a;b', 'a\tb']
  // Each name input, what it needs beside it, and where it lands. An ingress goes with a hostname,
  // and with a deployment of another name than any of the values above.
  const names: Record<string, { beside: Values; parsed: (inputs: Inputs) => string | undefined }> = {
    'instance-prefix': { beside: {}, parsed: (i) => i.instancePrefix },
    'lb-name': { beside: {}, parsed: (i) => i.deploy!.lbName },
    ingress: { beside: { hostname: HOSTNAME, 'instance-prefix': 'preview-7' }, parsed: (i) => i.deploy!.ingress?.name },
  }

  for (const [input, { beside, parsed }] of Object.entries(names)) {
    it.each(valid)(`${input} accepts %j`, (value) => {
      expect(parsed(parse({ image: 'nginx', ...beside, [input]: value }))).toBe(value)
    })

    it.each(invalid)(`${input} refuses %j, naming the allowed characters and length`, (value) => {
      const error = refusal({ image: 'nginx', ...beside, [input]: value }, input)
      expect(error.message).toContain(shown(value))
      expect(error.message).toContain('40')
      expect(error.message).toMatch(/letters, digits/)
      // A refused value never reaches the log with its raw control characters.
      expect(error.message).not.toMatch(/[\n\r\t]/)
    })
  }

  // Both name a load-balancer, which cannot take a name the deployment keeps for its own containers.
  const loadBalancers: [string, Values, (settings: DeploySettings) => string | undefined][] = [
    ['lb-name', {}, (s) => s.lbName],
    ['ingress', { hostname: HOSTNAME }, (s) => s.ingress?.name],
  ]

  it.each(loadBalancers)("refuses an %s equal to the deployment's lock container name", (input, beside, parsed) => {
    const lock = lockName('pr-42')
    const error = refusal({ image: 'nginx', ...beside, 'instance-prefix': 'pr-42', [input]: lock }, input)
    expect(error.message).toContain(`Invalid ${input} '${lock}'`)
    expect(error.message).toMatch(/lock/)
    // The same name is fine for another deployment.
    expect(parsed(deploySettings({ ...beside, 'instance-prefix': 'pr-43', [input]: lock }))).toBe(lock)
  })

  it.each(loadBalancers)("refuses an %s among the names kept for the deployment's companion services", (input, beside, parsed) => {
    const error = refusal({ image: 'nginx', ...beside, 'instance-prefix': 'pr-42', [input]: 'pr-42-svc-db' }, input)
    expect(error.message).toContain(`Invalid ${input} 'pr-42-svc-db'`)
    expect(error.message).toContain("names starting with 'pr-42-svc-' are kept for the companion services")
    expect(parsed(deploySettings({ ...beside, 'instance-prefix': 'pr-42', [input]: 'pr-42-svclb' }))).toBe('pr-42-svclb')
  })

  it.each(loadBalancers)('refuses a service named like the load-balancer (%s): the instances would reach either by that name', (input, beside) => {
    const error = refusal({ image: 'nginx', ...beside, [input]: 'cache', services: '- name: cache\n  image: redis:7' }, 'services')
    expect(error.message).toContain(`service 'cache' has the name of the load-balancer (${input})`)
    expect(error.message).toContain(`choose another ${input}`)
  })

  it('takes a service named like the default lb-name with an ingress, which has no load-balancer of its own', () => {
    const settings = deploySettings({ ingress: 'previews', hostname: HOSTNAME, services: '- name: lb\n  image: redis:7' })
    expect(settings.services.map((s) => s.name)).toEqual(['lb'])
  })

  it('quotes a huge pasted value shortened', () => {
    const error = refusal({ image: 'nginx', 'lb-name': 'y'.repeat(5000) }, 'lb-name')
    expect(error.message.length).toBeLessThan(400)
  })
})

describe('readInputs: ingress and hostname', () => {
  const routed = (values: Values) => deploySettings({ ingress: 'previews', hostname: HOSTNAME, ...values })
  const pem = selfSignedPem()

  it('is absent by default, and when both are given as empty: a load-balancer of its own', () => {
    expect(deploySettings({})).not.toHaveProperty('ingress')
    expect(deploySettings({ ingress: '', hostname: ' ' })).not.toHaveProperty('ingress')
  })

  it('takes an ingress with its hostname, both trimmed', () => {
    expect(deploySettings({ ingress: ' previews ', hostname: ` ${HOSTNAME}\n` }).ingress).toEqual({ name: 'previews', hostname: HOSTNAME })
  })

  it.each<[string, Values]>([
    ['protocol http given', { protocol: 'http' }],
    ['lb-name at its default', { 'lb-name': 'lb' }],
    ['lb-name empty', { 'lb-name': ' ' }],
    ['basic-auth empty', { 'basic-auth': '\n' }],
    ['the settings the ingress is created from', { 'lb-port': '443', 'external-network': '', 'lb-certificate': pem, 'http-redirect-port': '80' }],
    [
      'allow-cidrs, a health check, services and a release command',
      { 'allow-cidrs': '203.0.113.0/24', 'health-check-path': '/healthz', services: '- name: db\n  image: postgres:16', 'release-command': 'migrate' },
    ],
  ])('takes %s beside it', (_, values) => {
    expect(routed(values).ingress).toEqual({ name: 'previews', hostname: HOSTNAME })
  })

  it('refuses hostname without ingress, naming both', () => {
    const error = refusal({ image: 'nginx', hostname: HOSTNAME }, 'hostname')
    expect(error.message).toContain("Input 'hostname' needs 'ingress'")
    expect(error.message).toContain('leave hostname empty')
  })

  it.each([undefined, '', '  '])('refuses ingress with hostname %j, naming both and giving an example', (hostname) => {
    const error = refusal({ image: 'nginx', ingress: 'previews', hostname }, 'ingress')
    expect(error.message).toContain("Input 'ingress' needs 'hostname'")
    expect(error.message).toContain(`'${HOSTNAME}'`)
  })

  it('refuses an ingress named like the deployment, whose network and lock it would take', () => {
    const error = refusal({ image: 'nginx', 'instance-prefix': 'pr-42', ingress: 'pr-42', hostname: HOSTNAME }, 'ingress')
    expect(error.message).toContain("Invalid ingress 'pr-42': it is the deployment's name (instance-prefix)")
    expect(error.message).toContain('pr-42-net, pr-42-lock')
  })

  it('refuses protocol tcp, which has no Host header to route by', () => {
    const error = refusal({ image: 'nginx', ingress: 'previews', hostname: HOSTNAME, protocol: 'tcp' }, 'ingress')
    expect(error.message).toContain("Input 'ingress' needs protocol 'http'")
    expect(error.message).toContain("with 'tcp'")
  })

  it.each(['my-lb', 'previews-lb'])('refuses lb-name %j, which names a load-balancer of its own', (lbName) => {
    const error = refusal({ image: 'nginx', ingress: 'previews', hostname: HOSTNAME, 'lb-name': lbName }, 'lb-name')
    expect(error.message).toContain("Input 'lb-name' is not used with 'ingress'")
    expect(error.message).toContain('with an ingress there is none')
  })

  it('refuses basic-auth for now, saying why and never showing it', () => {
    const line = 'reviewer:correct horse battery staple'
    const error = refusal({ image: 'nginx', ingress: 'previews', hostname: HOSTNAME, 'basic-auth': line }, 'basic-auth')
    expect(error.message).toContain("Input 'basic-auth' is not available with 'ingress' yet")
    expect(error.message).toContain('stored there, outside the load-balancer')
    expect(error.message).not.toContain('reviewer')
    expect(error.message).not.toContain('staple')
  })

  it('refuses a service with a port, which the shared ingress cannot wait for, and takes one without', () => {
    const routed = { image: 'nginx', ingress: 'previews', hostname: HOSTNAME }
    const error = refusal({ ...routed, services: '- name: db\n  image: postgres:16\n  port: 5432' }, 'services')
    expect(error.message).toContain("service 'db' has a port, which the deploy cannot wait for with 'ingress' yet")
    expect(deploySettings({ ...routed, services: '- name: db\n  image: postgres:16' }).services).toHaveLength(1)
  })

  it('is not read by teardown, which finds what to remove by its labels', () => {
    expect(parse({ command: 'teardown', ingress: 'no good', hostname: 'NO GOOD' }).deploy).toBeUndefined()
  })

  const labels = (...lengths: number[]) => lengths.map((n, i) => String.fromCharCode(97 + i).repeat(n)).join('.')

  it.each([
    ['253 characters', labels(63, 63, 63, 61)],
    ['a label of 63 characters', `${'a'.repeat(63)}.example.com`],
    ['two labels of one character', 'a.b'],
    ['digits and inner hyphens', '42.pr--42.example.com'],
    ['an IDN as punycode', 'xn--caf-dma.example.com'],
  ])('hostname takes %s', (_, hostname) => {
    expect(routed({ hostname }).ingress!.hostname).toBe(hostname)
  })

  it.each([
    ['254 characters', labels(63, 63, 63, 62), '254 characters, more than 253'],
    ['a label of 64 characters', `${'a'.repeat(64)}.example.com`, 'label 1 has 64 characters, more than 63'],
    ['upper case', 'PR-42.Preview.example.com', "it has upper-case letters; write it as 'pr-42.preview.example.com'"],
    ['a leading hyphen', '-pr-42.example.com', "label 1 starts or ends with '-'"],
    ['a trailing hyphen', 'pr-42.example-.com', "label 2 starts or ends with '-'"],
    ['a single label', 'preview', 'it is a single label'],
    ['an empty label', 'pr-42..example.com', 'label 2 is empty'],
    ['a leading dot', '.example.com', 'label 1 is empty'],
    ['a trailing dot', `${HOSTNAME}.`, 'it ends with a dot; leave the dot out'],
    ['an underscore', 'pr_42.example.com', "label 1 has a character other than a-z, 0-9 and '-'"],
    ['a non-ASCII letter', 'café.example.com', "label 1 has a character other than a-z, 0-9 and '-'"],
    ['a wildcard', '*.example.com', "label 1 has a character other than a-z, 0-9 and '-'"],
    ['a port', `${HOSTNAME}:8080`, "label 4 has a character other than a-z, 0-9 and '-'"],
    ['a URL', `https://${HOSTNAME}`, "label 1 has a character other than a-z, 0-9 and '-'"],
    ['a space', 'pr 42.example.com', "label 1 has a character other than a-z, 0-9 and '-'"],
  ])('hostname refuses %s, saying what is wrong and what a name may be', (_, hostname, problem) => {
    const error = refusal({ image: 'nginx', ingress: 'previews', hostname }, 'hostname')
    expect(error.message).toContain(`Invalid hostname ${shown(hostname)}`)
    expect(error.message).toContain(problem)
    expect(error.message).toContain(`such as '${HOSTNAME}'`)
    expect(error.message).toContain('up to 253 characters, each label 1 to 63')
  })
})

describe('readInputs: owner', () => {
  it("is the workflow's repository, else local; a given owner wins", () => {
    expect(parse({ image: 'nginx' }).owner).toBe('local')
    expect(parse({ image: 'nginx' }, { GITHUB_REPOSITORY: 'acme/one' }).owner).toBe('acme/one')
    expect(parse({ image: 'nginx', owner: 'acme/old-name' }, { GITHUB_REPOSITORY: 'acme/one' }).owner).toBe('acme/old-name')
    expect(parse({ command: 'teardown' }, { GITHUB_REPOSITORY: 'acme/one' }).owner).toBe('acme/one')
  })

  it('reaches the deploy and prune settings', () => {
    expect(parse({ image: 'nginx', owner: 'alice' }).deploy!.owner).toBe('alice')
    expect(parse({ command: 'prune', 'instance-prefix': 'pr-*', 'max-age': '1d', owner: 'acme/one' }).prune!.owner).toBe('acme/one')
  })

  it.each(['acme/one', 'Acme-Corp/shop.example.com', 'a/b', `${'o'.repeat(39)}/${'r'.repeat(100)}`, 'local', 'alice-laptop', 'ci_7'])('accepts %j', (value) => {
    expect(parse({ image: 'nginx', owner: value }).owner).toBe(value)
  })

  it.each([
    'acme/one/two',
    '/one',
    'acme/',
    '-acme/one',
    'acme_corp/one',
    `${'o'.repeat(40)}/r`,
    `o/${'r'.repeat(101)}`,
    'acme/..',
    'a b',
    'a\nb',
    'ünï',
    'x'.repeat(41),
  ])('refuses %j, naming both accepted forms', (value) => {
    const error = refusal({ image: 'nginx', owner: value }, 'owner')
    expect(error.message).toContain(shown(value))
    expect(error.message).toContain("'owner/repo'")
    expect(error.message).toContain("'local'")
  })

  it('holds GITHUB_REPOSITORY to the same rules, and says where the value came from', () => {
    expect(() => parse({ image: 'nginx' }, { GITHUB_REPOSITORY: 'not a repo' })).toThrow("Invalid owner 'not a repo' (from GITHUB_REPOSITORY)")
  })
})

describe('readInputs: image and haproxy-image', () => {
  const digest = `sha256:${'0123456789abcdef'.repeat(4)}`
  const valid = [
    'nginx',
    'nginx:1.27',
    'nginx:1.27-alpine',
    'library/nginx:latest',
    'ghcr.io/owner/app:v1.2.3',
    'localhost:5000/app',
    'registry.example.com:5000/team/sub/app:tag',
    `registry.example.com:5000/team/app:1.0@${digest}`,
    `app@${digest}`,
    'my_app__x-y.z:TAG_1.0',
    `${'a'.repeat(60)}:${'t'.repeat(128)}`,
  ]
  const invalid = [
    'Nginx',
    'nginx/App:1',
    'registry.example.com/Team/app',
    'ngi nx',
    'nginx :1',
    'nginx\n:1',
    'nginx#1',
    'nginx:',
    ':1.27',
    'nginx:-dash',
    `nginx:${'t'.repeat(129)}`,
    'nginx@sha256:abc',
    `nginx@sha256:${'A'.repeat(64)}`,
    'nginx:1.27;rm',
    '-nginx',
    'nginx//app',
    'https://registry.example.com/app',
  ]

  it.each(valid)('image accepts %j', (image) => {
    expect(deploySettings({ image }).image).toBe(image)
  })

  it.each(invalid)('image refuses %j with an example reference', (image) => {
    const error = refusal({ image }, 'image')
    expect(error.message).toContain(shown(image))
    expect(error.message).toMatch(/nginx:1\.27/)
    expect(error.message).not.toMatch(/[\n\r]/)
  })

  it.each(valid)('haproxy-image accepts %j', (haproxyImage) => {
    expect(deploySettings({ 'haproxy-image': haproxyImage }).haproxyImage).toBe(haproxyImage)
  })

  it.each(invalid)('haproxy-image refuses %j', (haproxyImage) => {
    const error = refusal({ image: 'nginx', 'haproxy-image': haproxyImage }, 'haproxy-image')
    expect(error.message).toContain(shown(haproxyImage))
    expect(error.message).toMatch(/haproxy:/)
  })
})

describe('readInputs: external-network', () => {
  it("is 'routable' when absent", () => {
    expect(deploySettings({}).externalNetwork).toBe('routable')
  })

  it("given as '' means publish lb-port on the Docker host", () => {
    expect(deploySettings({ 'external-network': '' }).externalNetwork).toBe('')
    expect(deploySettings({ 'external-network': '  ' }).externalNetwork).toBe('')
  })

  it.each(['vic-net', 'my.net_1-x', 'bridge', 'A1'])('accepts %j', (network) => {
    expect(deploySettings({ 'external-network': network }).externalNetwork).toBe(network)
  })

  it.each(['bad net', 'net#1', '-net', '.net', 'net$', 'net\nx', 'réseau'])('refuses %j, saying how to publish instead', (network) => {
    const error = refusal({ image: 'nginx', 'external-network': network }, 'external-network')
    expect(error.message).toContain(shown(network))
    expect(error.message).toContain("''")
  })
})

describe('readInputs: protocol and health-check-path', () => {
  it.each(['http', 'tcp'])('accepts protocol %s', (protocol) => {
    expect(deploySettings({ protocol }).protocol).toBe(protocol)
  })

  it.each(['HTTP', 'https', 'udp', 'http/2'])('refuses protocol %j, listing http and tcp', (protocol) => {
    const error = refusal({ image: 'nginx', protocol }, 'protocol')
    expect(error.message).toContain(protocol)
    expect(error.message).toMatch(/http, tcp|http and tcp|'http'.*'tcp'/)
  })

  it.each(['/', '/healthz', '/status?full=1&fmt=json', '/a/b%20c', '/v1/health.check~x+y=z-_'])('accepts path %j', (path) => {
    expect(deploySettings({ 'health-check-path': path }).healthCheckPath).toBe(path)
  })

  it.each(['healthz', '/a b', '/a#b', '/a\nb', '/a$b', '/a;b', '/a"b', "/a'b", '/a\\b', '//x{y}', '/é'])('refuses path %j', (path) => {
    const error = refusal({ image: 'nginx', 'health-check-path': path }, 'health-check-path')
    expect(error.message).toContain(shown(path))
    expect(error.message).toContain('/healthz')
    expect(error.message).not.toMatch(/[\n\r]/)
  })

  it('is empty by default: a TCP connect check', () => {
    expect(deploySettings({}).healthCheckPath).toBe('')
    expect(deploySettings({ protocol: 'tcp' }).healthCheckPath).toBe('')
  })

  it('refuses a health-check-path with protocol tcp, naming both', () => {
    const error = refusal({ image: 'nginx', protocol: 'tcp', 'health-check-path': '/healthz' }, 'health-check-path')
    expect(error.message).toContain('tcp')
    expect(error.message).toContain('http')
  })
})

describe('readInputs: registry credentials', () => {
  it('are optional', () => {
    expect(deploySettings({}).registryAuth).toBeUndefined()
  })

  it('are taken as a pair, the password exactly as given', () => {
    const auth = deploySettings({ 'registry-username': 'bot', 'registry-password': ' p@ss word ' }).registryAuth
    expect(auth).toMatchObject({ username: 'bot', password: ' p@ss word ' })
    // The X-Registry-Auth header the Engine decodes: URL-safe base64 of the JSON credentials.
    expect(JSON.parse(Buffer.from(auth!.header, 'base64url').toString())).toEqual({ username: 'bot', password: ' p@ss word ' })
    expect(auth!.header).not.toMatch(/[+/]/)
  })

  it.each([{ 'registry-username': 'bot' }, { 'registry-password': 's3cret' }])('refuses half a pair: %j', (values) => {
    const error = refusal({ image: 'nginx', ...values }, 'registry-username')
    expect(error.message).toContain('registry-password')
    expect(error.message).not.toContain('s3cret')
  })
})

describe('readInputs: tls-verify', () => {
  it.each([
    ['true', true],
    ['false', false],
    ['True', true],
    ['FALSE', false],
    [' TRUE ', true],
  ] as const)('accepts %j', (value, verify) => {
    expect(parse({ image: 'nginx', 'tls-verify': value }).tls.verify).toBe(verify)
  })

  it.each(['yes', 'no', '1', '0', 'tRUE', 'off', 'verify'])('refuses %j, naming true and false', (value) => {
    const error = refusal({ image: 'nginx', 'tls-verify': value }, 'tls-verify')
    expect(error.message).toContain(value.trim())
    expect(error.message).toContain("'true'")
    expect(error.message).toContain("'false'")
  })

  it('is checked for teardown too', () => {
    refusal({ command: 'teardown', 'tls-verify': 'maybe' }, 'tls-verify')
  })
})

describe('readInputs: secret inputs', () => {
  const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${body.repeat(16)}\n${body.repeat(8)}\n-----END ${label}-----\n`
  const secretNames = INPUT_SPECS.filter((s) => s.secret).map((s) => s.name)
  // A distinct value for every secret input, PEM material for the TLS ones.
  const secretValues: Values = Object.fromEntries(
    secretNames.map((name, i) => [
      name,
      name === 'docker-host'
        ? 'tcp://vch.internal.example:2376'
        : name === 'lb-certificate'
          ? selfSignedPem()
          : name === 'secret-env'
            ? `SECRET=secret-${i}-0123456789`
            : name === 'basic-auth'
              ? `reviewer:secret-${i}-0123456789`
              : name.startsWith('tls-')
                ? pem(name === 'tls-key' ? 'PRIVATE KEY' : 'CERTIFICATE', `QUJ${i}`)
                : `secret-${name}-0123456789`,
    ]),
  )
  const values: Values = { image: 'nginx', 'registry-username': 'deploy-bot', ...secretValues }

  // Listed out, so that an input losing its secret flag (or disappearing) fails here instead of
  // dropping out of the masking tests that go over secretNames.
  it('are docker-host, the TLS material, the registry password, lb-certificate, secret-env, basic-auth and github-token', () => {
    expect([...secretNames].sort()).toEqual(
      ['docker-host', 'tls-ca-cert', 'tls-cert', 'tls-key', 'registry-password', 'lb-certificate', 'secret-env', 'basic-auth', 'github-token'].sort(),
    )
  })

  it('passes the TLS material through to tls', () => {
    const { tls, dockerHost } = parse(values)
    expect(dockerHost).toBe(values['docker-host'])
    expect(tls.ca?.trim()).toBe(values['tls-ca-cert']!.trim())
    expect(tls.cert?.trim()).toBe(values['tls-cert']!.trim())
    expect(tls.key?.trim()).toBe(values['tls-key']!.trim())
  })
})

describe('readInputs: env and secret-env', () => {
  const config = (values: Values) => deploySettings(values).instanceConfig

  it.each(['env', 'secret-env'])('%s: one KEY=VALUE a line, the value exactly as written after the first =', (input) => {
    const text = [
      '  # a comment',
      'PLAIN=value',
      '',
      'EQUALS=a=b==c',
      'SPACES=  two  spaces  ',
      `QUOTES="double" 'single'`,
      'DOLLAR=$HOME ${PATH} $(id) `id`',
      'HASH=not # a comment',
      'EMPTY=',
      'UNICODE=名前 🙂 é',
      '   INDENTED=x',
      'CRLF=y\r',
      '_under_9=z',
    ].join('\n')
    const vars = config({ [input]: `${text}\n` })[input === 'env' ? 'env' : 'secretEnv']
    expect(vars).toEqual([
      { key: 'PLAIN', value: 'value' },
      { key: 'EQUALS', value: 'a=b==c' },
      { key: 'SPACES', value: '  two  spaces  ' },
      { key: 'QUOTES', value: `"double" 'single'` },
      { key: 'DOLLAR', value: '$HOME ${PATH} $(id) `id`' },
      { key: 'HASH', value: 'not # a comment' },
      { key: 'EMPTY', value: '' },
      { key: 'UNICODE', value: '名前 🙂 é' },
      { key: 'INDENTED', value: 'x' },
      { key: 'CRLF', value: 'y' },
      { key: '_under_9', value: 'z' },
    ])
  })

  it('absent or blank: no variables', () => {
    expect(config({})).toEqual({ env: [], secretEnv: [] })
    expect(config({ env: '\n  \n# only a comment\n', 'secret-env': '' })).toEqual({ env: [], secretEnv: [] })
  })

  it.each([
    ['no =', 'A=1\n\nnot a pair sk-live-123', 3],
    ['a bad key', 'A=1\n9LIVES=sk-live-123', 2],
    ['a key with a dash', 'MY-KEY=sk-live-123', 1],
    ['a key with a space', 'MY KEY=sk-live-123', 1],
    ['an empty key', '=sk-live-123', 1],
    ['a NUL in the value', 'A=sk-live-\u0000123', 1],
    ['a huge line', `A=sk-live-123${'x'.repeat(140_000)}`, 1],
    ['a repeated key', 'A=1\nB=2\nA=sk-live-123', 3],
  ])('refuses %s, naming the input and the line, never the value', (_, text, line) => {
    for (const input of ['env', 'secret-env']) {
      const error = refusal({ image: 'nginx', [input]: text }, input)
      expect(error.message).toContain(`line ${line}`)
      expect(error.message).not.toContain('sk-live')
      expect(error.message).not.toContain('123')
    }
  })

  it('refuses a variable given in both, and more than fits an environment', () => {
    expect(refusal({ image: 'nginx', env: 'A=1', 'secret-env': 'A=2' }, 'secret-env').message).toContain('A')
    const big = Array.from({ length: 10 }, (_, i) => `K${i}=${'v'.repeat(120_000)}`).join('\n')
    refusal({ image: 'nginx', env: big }, 'env')
  })
})

describe('readInputs: instance-command', () => {
  const command = (value: string) => deploySettings({ 'instance-command': value }).instanceConfig.command

  it('takes a JSON array of strings as it is, and a plain line split on whitespace', () => {
    expect(command('["gunicorn","app:app","-b","0.0.0.0:8000"]')).toEqual(['gunicorn', 'app:app', '-b', '0.0.0.0:8000'])
    expect(command('["sh", "-c", "echo $HOME && id"]')).toEqual(['sh', '-c', 'echo $HOME && id'])
    expect(command('  httpd -f   -p 8081\t-h /etc  ')).toEqual(['httpd', '-f', '-p', '8081', '-h', '/etc'])
    expect(command('echo $HOME;id')).toEqual(['echo', '$HOME;id'])
    expect(command('')).toBeUndefined()
  })

  it.each([
    ['[gunicorn]', 'not valid JSON'],
    ['["a", 1]', 'array of strings'],
    ['[]', 'array of strings'],
    ['[""]', 'program name is empty'],
    ['npm start\nrm -rf /', 'more than one line'],
    ['["a\\u0000b"]', 'NUL'],
  ])('refuses %j', (value, problem) => {
    expect(refusal({ image: 'nginx', 'instance-command': value }, 'instance-command').message).toContain(problem)
  })
})

describe('readInputs: instance-memory and instance-cpus', () => {
  it.each([
    ['512m', 512 * 1024 ** 2],
    ['2g', 2 * 1024 ** 3],
    ['2G', 2 * 1024 ** 3],
    ['1.5g', 1.5 * 1024 ** 3],
    ['65536k', 64 * 1024 ** 2],
    ['6m', 6 * 1024 ** 2],
  ])('memory %s is %d bytes', (value, bytes) => {
    expect(deploySettings({ 'instance-memory': value }).instanceConfig.memoryBytes).toBe(bytes)
  })

  it.each(['512', '512mb', '5m', '-1g', '0g', '1025g', '1e3m', 'lots', '512 m'])('refuses memory %j', (value) => {
    refusal({ image: 'nginx', 'instance-memory': value }, 'instance-memory')
  })

  it.each([
    ['1', 1],
    ['0.5', 0.5],
    ['2', 2],
    ['0.01', 0.01],
    ['256', 256],
  ])('cpus %s', (value, cpus) => {
    expect(deploySettings({ 'instance-cpus': value }).instanceConfig.cpus).toBe(cpus)
  })

  it.each(['0', '0.001', '-1', '1/2', '.5', '01', '257', 'two', '1e0'])('refuses cpus %j', (value) => {
    refusal({ image: 'nginx', 'instance-cpus': value }, 'instance-cpus')
  })
})

describe('readInputs: pull', () => {
  it.each(['always', 'missing', 'never'])('takes %s, for deploy and for the lock image of teardown', (pull) => {
    expect(deploySettings({ pull }).pull).toBe(pull)
    expect(parse({ command: 'teardown', pull }).pull).toBe(pull)
  })

  it.each(['if-not-present', 'Always', 'no'])('refuses %j', (pull) => {
    expect(refusal({ image: 'nginx', pull }, 'pull').message).toContain('always, missing, never')
  })
})

describe('readInputs: lb-certificate', () => {
  const pem = selfSignedPem()
  const other = selfSignedPem()
  const [cert, key] = [
    pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/)![0],
    pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----\n/)![0],
  ]
  const otherKey = other.match(/-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----\n/)![0]
  const otherCert = other.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/)![0]

  it('takes chain and key in one PEM, in either order, and knows the fingerprint to expect', () => {
    const { certificate } = deploySettings({ 'lb-certificate': pem })
    expect(certificate!.pem).toBe(pem.trim() + '\n')
    expect(certificate!.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    expect(deploySettings({ 'lb-certificate': key + cert + otherCert }).certificate!.fingerprint256).toBe(certificate!.fingerprint256)
    expect(deploySettings({ 'lb-certificate': selfSignedPem('x', 'rsa') }).certificate).toBeDefined()
  })

  it.each([
    ['a key that belongs to another certificate', () => cert + otherKey, 'does not belong'],
    ['no key', () => cert, 'no PEM private key'],
    ['no certificate', () => key, 'no PEM certificate'],
    ['two keys', () => cert + key + otherKey, '2 private keys'],
    ['a broken certificate', () => cert.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA') + key, 'cannot be parsed'],
    ['a broken key', () => cert + key.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!!!!!!!!!!!!!!!!!'), 'cannot be parsed'],
    ['an encrypted key', () => cert + '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n', 'encrypted'],
    ['text', () => 'not a pem at all', 'no PEM certificate'],
  ])('refuses %s, naming the input and showing none of it', (_, value, problem) => {
    const error = refusal({ image: 'nginx', 'lb-certificate': value() }, 'lb-certificate')
    expect(error.message).toContain(problem)
    for (const line of value()
      .split('\n')
      .filter((l) => l.length >= 8 && !l.startsWith('-----')))
      expect(error.message).not.toContain(line)
  })

  it('is refused with protocol tcp', () => {
    expect(refusal({ image: 'nginx', protocol: 'tcp', 'lb-certificate': pem }, 'lb-certificate').message).toContain("'tcp'")
  })
})

describe('readInputs: http-redirect-port', () => {
  const pem = selfSignedPem()

  it('is off by default, and taken with lb-certificate', () => {
    expect(deploySettings({ 'lb-certificate': pem }).httpRedirectPort).toBeUndefined()
    expect(deploySettings({ 'lb-certificate': pem, 'lb-port': '443', 'http-redirect-port': '80' }).httpRedirectPort).toBe(80)
  })

  it.each([
    ['a port out of range', { 'lb-certificate': pem, 'http-redirect-port': '65536' }, 'from 1 to 65535'],
    ['a port that is not a number', { 'lb-certificate': pem, 'http-redirect-port': 'http' }, 'from 1 to 65535'],
    ['no lb-certificate', { 'http-redirect-port': '8081' }, "needs 'lb-certificate'"],
    ['lb-port itself', { 'lb-certificate': pem, 'lb-port': '8443', 'http-redirect-port': '8443' }, 'lb-port serves HTTPS there'],
    ['the stats port on an external network', { 'lb-certificate': pem, 'http-redirect-port': '8404' }, "the load-balancer's stats page has that port"],
  ])('refuses %s, naming the input and what to do', (_, values, problem) => {
    expect(refusal({ image: 'nginx', ...values }, 'http-redirect-port').message).toContain(problem)
  })
})

describe('readInputs: basic-auth', () => {
  const password = 'correct horse #battery $staple'

  it('is off by default; takes one user:password a line, the password after the first colon as written', () => {
    expect(deploySettings({}).basicAuth).toBeUndefined()
    expect(deploySettings({ 'basic-auth': '\n' }).basicAuth).toBeUndefined()
    expect(deploySettings({ 'basic-auth': `reviewer:${password}\r\n\nqa@example.test:pw:with:colons \n` }).basicAuth).toEqual([
      { user: 'reviewer', password },
      { user: 'qa@example.test', password: 'pw:with:colons ' },
    ])
  })

  it.each([
    ['a line without a colon', `reviewer:${password}\nqa-${password}`, 'line 2: no', `qa-${password}`],
    ['an empty user', `:${password}`, 'line 1: the user', password],
    ['a user with a space', `the reviewer:${password}`, 'line 1: the user', password],
    ['a short password', 'reviewer:short7!', 'line 1: the password is not 8 to 256', 'short7!'],
    ['a password with a tab', `reviewer:${password}\t`, 'line 1: the password', password],
    ['a password with a non-ASCII character', `reviewer:${password}é`, 'line 1: the password', password],
    ['a user given twice', `reviewer:${password}\nreviewer:${password}!`, 'line 2: the user is already given on line 1', password],
  ])('refuses %s, naming the input and the line, never the value', (_, value, problem, secret) => {
    const error = refusal({ image: 'nginx', 'basic-auth': value }, 'basic-auth')
    expect(error.message).toContain(problem)
    expect(error.message).not.toContain(secret)
    expect(error.message).not.toContain('reviewer')
  })

  it('is refused with protocol tcp, which sees no request to ask credentials of', () => {
    const error = refusal({ image: 'nginx', protocol: 'tcp', 'basic-auth': `reviewer:${password}` }, 'basic-auth')
    expect(error.message).toContain("needs protocol 'http'")
    expect(error.message).not.toContain(password)
  })
})

describe('readInputs: allow-cidrs', () => {
  it('is off by default; takes IPv4 and IPv6 networks and single addresses, separated by commas, spaces or newlines', () => {
    expect(deploySettings({}).allowCidrs).toBeUndefined()
    expect(deploySettings({ 'allow-cidrs': ' 10.0.0.0/8, 192.168.1.7\n2001:db8::/32  ::1 ,0.0.0.0/0\n::/0' }).allowCidrs).toEqual([
      '10.0.0.0/8',
      '192.168.1.7',
      '2001:db8::/32',
      '::1',
      '0.0.0.0/0',
      '::/0',
    ])
    expect(deploySettings({ protocol: 'tcp', 'allow-cidrs': '10.0.0.0/8' }).allowCidrs).toEqual(['10.0.0.0/8'])
  })

  it.each([
    ['a prefix beyond 32 for IPv4', '10.0.0.0/33', 'entry 1: the prefix length is not a number from 0 to 32'],
    ['a prefix beyond 128 for IPv6', '10.0.0.0/8 2001:db8::/129', 'entry 2: the prefix length is not a number from 0 to 128'],
    ['a signed prefix', '10.0.0.0/-1', 'entry 1: the prefix length'],
    ['a prefix with a leading zero', '10.0.0.0/08', 'entry 1: the prefix length'],
    ['an empty prefix', '10.0.0.0/', 'entry 1: the prefix length'],
    ['two prefixes', '10.0.0.0/8/8', 'entry 1: the prefix length'],
    ['an address out of range', '10.0.0.256/32', 'entry 1: not an IP address'],
    ['an address with leading zeros', '010.0.0.1', 'entry 1: not an IP address'],
    ['a host name', 'example.com', 'entry 1: not an IP address'],
    ['an IPv6 zone', 'fe80::1%eth0', 'entry 1: not an IP address'],
    ['a configuration word', '10.0.0.0/8 #', 'entry 2: not an IP address'],
    ['separators alone (fast-check found ",")', ' ,\n, ', 'Invalid allow-cidrs: it names no network'],
  ])('refuses %s, naming the input and the entry', (_, value, problem) => {
    expect(refusal({ image: 'nginx', 'allow-cidrs': value }, 'allow-cidrs').message).toContain(problem)
  })
})

describe('readInputs: response-timeout, tunnel-timeout and drain-timeout', () => {
  it.each([
    ['response-timeout', '90s', 'response', 90],
    ['response-timeout', '5m', 'response', 300],
    ['response-timeout', '1d', 'response', 86400],
    ['tunnel-timeout', '2h', 'tunnel', 7200],
    ['tunnel-timeout', '7d', 'tunnel', 604800],
    ['drain-timeout', '2m', 'drain', 120],
    ['drain-timeout', '1h', 'drain', 3600],
  ] as const)('%s %s is %s %i seconds', (input, value, key, seconds) => {
    expect(deploySettings({ [input]: value }).timeouts[key]).toBe(seconds)
  })

  it.each([
    ['response-timeout', '90', 'at most 1d'],
    ['response-timeout', '0s', 'at most 1d'],
    ['response-timeout', '2d', 'at most 1d'],
    ['tunnel-timeout', '1.5h', 'at most 7d'],
    ['tunnel-timeout', '8d', 'at most 7d'],
    ['drain-timeout', '61m', 'at most 1h'],
    ['drain-timeout', '30 s', 'at most 1h'],
  ])('refuses %s %j with the accepted form and the limit', (input, value, limit) => {
    const error = refusal({ image: 'nginx', [input]: value }, input)
    expect(error.message).toContain('Expected a whole number and one unit, s, m, h or d')
    expect(error.message).toContain(limit)
  })
})

describe('readInputs: services', () => {
  const services = (text: string) => deploySettings({ services: text }).services
  const SECRET = 'hunter2-do-not-show'

  it('reads a list of services with every field', () => {
    const text = [
      '- name: db',
      '  image: postgres:16',
      '  env:',
      '    POSTGRES_DB: app',
      '    POSTGRES_PORT: 5432',
      '    FSYNC: false',
      '  secret-env:',
      `    POSTGRES_PASSWORD: ${SECRET}`,
      '  command: ["postgres", "-c", "fsync=off"]',
      '  port: 5432',
      '  volume: /var/lib/postgresql/data/',
      '  memory: 512m',
      '  cpus: 1.5',
      '- name: cache',
      '  image: redis:7',
      '  command: redis-server --appendonly yes',
    ].join('\n')
    expect(services(text)).toEqual([
      {
        name: 'db',
        image: 'postgres:16',
        env: [
          { key: 'POSTGRES_DB', value: 'app' },
          { key: 'POSTGRES_PORT', value: '5432' },
          { key: 'FSYNC', value: 'false' },
        ],
        secretEnv: [{ key: 'POSTGRES_PASSWORD', value: SECRET }],
        command: ['postgres', '-c', 'fsync=off'],
        port: 5432,
        volume: '/var/lib/postgresql/data',
        memoryBytes: 512 * 1024 ** 2,
        cpus: 1.5,
      },
      { name: 'cache', image: 'redis:7', env: [], secretEnv: [], command: ['redis-server', '--appendonly', 'yes'] },
    ])
  })

  it('is empty when not given', () => {
    expect(services('')).toEqual([])
    expect(services('  \n')).toEqual([])
  })

  it.each([
    ['not YAML', '- name: db\n  image: [unclosed', 'not valid YAML'],
    ['a duplicate key', '- name: db\n  name: db2\n  image: redis', 'not valid YAML (DUPLICATE_KEY at line 2'],
    ['a map, not a list', 'name: db\nimage: redis', 'expected a YAML list'],
    ['an item that is not a map', '- db', 'item 1: not a map'],
    ['no name', '- image: redis', "item 1, field 'name'"],
    ['an upper-case name', '- name: DB\n  image: redis', "item 1, field 'name'"],
    ["a name in the deployment's own namespace", '- name: web-db\n  image: redis', "not starting with 'web-'"],
    ['a name given twice', '- name: db\n  image: redis\n- name: db\n  image: redis', "'db' is given twice"],
    ['an unknown field', '- name: db\n  image: redis\n  ports: 5432', "service 'db' has a field that is not known ('ports')"],
    ['no image', '- name: db', "service 'db', field 'image'"],
    ['a bad image', '- name: db\n  image: Redis!', "service 'db', field 'image'"],
    ['env as a list', '- name: db\n  image: redis\n  env: [A=1]', "service 'db', field 'env': expected a map"],
    ['a bad variable name', '- name: db\n  image: redis\n  env: {1A: x}', "field 'env': the key is not a variable name"],
    ['a nested value', '- name: db\n  image: redis\n  env: {A: {b: c}}', "field 'env': the value of a variable is not"],
    ['a variable in env and secret-env', '- name: db\n  image: redis\n  env: {A: x}\n  secret-env: {A: y}', "field 'secret-env': variable A is in env too"],
    ['a port out of range', '- name: db\n  image: redis\n  port: 70000', "service 'db', field 'port'"],
    ['a port as text', '- name: db\n  image: redis\n  port: "5432"', "service 'db', field 'port'"],
    ['a relative volume', '- name: db\n  image: redis\n  volume: data', "service 'db', field 'volume'"],
    ['the root as volume', '- name: db\n  image: redis\n  volume: /', "service 'db', field 'volume'"],
    ['a volume with ..', '- name: db\n  image: redis\n  volume: /data/../etc', "service 'db', field 'volume'"],
    ['bad memory', '- name: db\n  image: redis\n  memory: lots', "service 'db', field 'memory'"],
    ['bad cpus', '- name: db\n  image: redis\n  cpus: -1', "service 'db', field 'cpus'"],
    ['an empty command', '- name: db\n  image: redis\n  command: []', "service 'db', field 'command'"],
    ['a command of numbers', '- name: db\n  image: redis\n  command: [1, 2]', "service 'db', field 'command'"],
    ['too many services', Array.from({ length: 21 }, (_, i) => `- name: s${i}\n  image: redis`).join('\n'), '21 services, at most 20'],
  ])('refuses %s, naming the service and field', (_, text, problem) => {
    expect(refusal({ image: 'nginx', services: text }, 'services').message).toContain(problem)
  })

  it('never shows a value in its errors', () => {
    for (const text of [
      `- name: db\n  image: redis\n  secret-env: {A: ${SECRET}, B: [${SECRET}]}`,
      `- name: db\n  image: redis\n  secret-env: {"${SECRET}": x}`,
      `- name: db\n  image: redis\n  secret-env: {A: ${SECRET}}\n  port: "${SECRET}"`,
      `- name: db\n  image: redis\n  secret-env: {A: "${SECRET}\n  memory: 1g`,
      `- name: db\n  image: redis\n  ${SECRET}: 1`,
      `- name: db\n  image: redis\n  memory: ${SECRET}`,
    ])
      expect(refusal({ image: 'nginx', services: text }, 'services').message).not.toContain('hunter2')
  })

  it('gives every secret-env value to mask, even of a service refused for another field', () => {
    expect(
      serviceSecretValues(`- name: db\n  image: redis\n  port: nope\n  secret-env:\n    A: ${SECRET}\n    B: 12345678\n- name: x\n  secret-env: [no]`),
    ).toEqual([SECRET, '12345678'])
    expect(serviceSecretValues('- name: [unclosed')).toEqual([])
    expect(serviceSecretValues('')).toEqual([])
  })
})

describe('readInputs: release-command', () => {
  it('takes a JSON array or one line, like instance-command', () => {
    expect(deploySettings({ 'release-command': '["rails","db:migrate"]' }).releaseCommand).toEqual(['rails', 'db:migrate'])
    expect(deploySettings({ 'release-command': 'npm run migrate' }).releaseCommand).toEqual(['npm', 'run', 'migrate'])
    expect(deploySettings({}).releaseCommand).toBeUndefined()
  })

  it('refuses what instance-command refuses, naming release-command', () => {
    expect(refusal({ image: 'nginx', 'release-command': '[migrate]' }, 'release-command').message).toContain('not valid JSON')
    expect(refusal({ image: 'nginx', 'release-command': 'a\nb' }, 'release-command').message).toContain('more than one line')
  })
})
