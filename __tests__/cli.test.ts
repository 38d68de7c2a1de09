import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { UsageError, cli, parseCommandLine, usage, type CliIo } from '../src/cli'
import { INPUT_SPECS } from '../src/inputs'
import { actionsLog, log, useLog } from '../src/log'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vic-lb-cli-test-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

function file(name: string, contents: string): string {
  const at = path.join(dir, name)
  fs.writeFileSync(at, contents)
  return at
}

const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n'
const KEY_LINE = KEY.split('\n')[1]
// Every input that also takes --<input>-file, listed out: an input that disappears, or loses its
// file flag, fails the tests below instead of dropping out of them.
const FILE_INPUTS = ['tls-ca-cert', 'tls-cert', 'tls-key', 'lb-certificate', 'basic-auth', 'env', 'secret-env', 'services']

function usageError(args: string[]): string {
  try {
    parseCommandLine(args)
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError)
    return (error as Error).message
  }
  throw new Error(`no usage error for ${args.join(' ')}`)
}

describe('parseCommandLine', () => {
  it('passes flags through as inputs and the positional as the command', () => {
    const invocation = parseCommandLine(['deploy', '--image', 'web:1', '--external-network=', '--instances', '2'])
    expect(invocation.help).toBe(false)
    if (invocation.help) return
    expect(invocation.read('command')).toBe('deploy')
    expect(invocation.read('image')).toBe('web:1')
    expect(invocation.read('external-network')).toBe('')
    expect(invocation.read('instances')).toBe('2')
    // Not given: undefined, so that the input's default applies.
    expect(invocation.read('lb-port')).toBeUndefined()
    expect(invocation.output).toBe('text')
  })

  it('passes --ingress and --hostname through as the inputs of those names, and lists them in the usage', () => {
    const invocation = parseCommandLine(['deploy', '--image', 'web:1', '--ingress', 'previews', '--hostname=pr-42.preview.example.com'])
    if (invocation.help) throw new Error('help')
    expect(invocation.read('ingress')).toBe('previews')
    expect(invocation.read('hostname')).toBe('pr-42.preview.example.com')
    expect(usage()).toMatch(/^ {2}--ingress +Name of a load-balancer container shared by the deployments/m)
    expect(usage()).toMatch(/^ {2}--hostname +With `ingress`: the host name this deployment is served under/m)
  })

  it.each(FILE_INPUTS)('reads --<input>-file as the contents of the input: %s', (name) => {
    const contents = `${name} contents\nsecond line\n`
    const invocation = parseCommandLine(['deploy', `--${name}-file`, file(`${name}.txt`, contents)])
    if (invocation.help) throw new Error('help')
    expect(invocation.read(name)).toBe(contents)
  })

  it('has a file flag for exactly these inputs, each an input of INPUT_SPECS', () => {
    for (const name of FILE_INPUTS) expect(INPUT_SPECS.map((spec) => spec.name)).toContain(name)
    expect([...usage().matchAll(/^ {2}(--[a-z-]+-file) /gm)].map((m) => m[1]).sort()).toEqual(FILE_INPUTS.map((name) => `--${name}-file`).sort())
    expect(usageError(['deploy', '--image-file', file('image.txt', 'web:1')])).toMatch(/Unknown option '--image-file'/)
  })

  it('refuses a value given both ways, naming both flags', () => {
    expect(usageError(['deploy', `--tls-key=${KEY}`, '--tls-key-file', file('key.pem', KEY)])).toBe('Give --tls-key or --tls-key-file, not both.')
    expect(usageError(['deploy', '--tls-key=', '--tls-key-file', file('key.pem', KEY)])).toBe('Give --tls-key or --tls-key-file, not both.')
  })

  it.each([
    ['a missing file', path.join(dir, 'absent.pem'), /^Could not read --tls-cert-file: ENOENT: no such file or directory, open '.*absent\.pem'$/],
    ['a directory', dir, /^Could not read --tls-cert-file: EISDIR: illegal operation on a directory/],
  ])('refuses %s, naming the flag', (_, at, message) => {
    expect(usageError(['deploy', '--tls-cert-file', at])).toMatch(message)
  })

  it('takes --output json, and refuses other formats', () => {
    const invocation = parseCommandLine(['teardown', '--output', 'json'])
    expect(!invocation.help && invocation.output).toBe('json')
    expect(usageError(['teardown', '--output', 'yaml'])).toBe("Invalid --output 'yaml'. Expected one of: text, json.")
  })

  it.each([
    [[], /Expected one command \(deploy, teardown, prune, remove-ingress\), got 0/],
    [['deploy', 'teardown'], /got 2/],
    [['destroy'], /Unknown command 'destroy'. Expected one of: deploy, teardown, prune, remove-ingress/],
    [['deploy', '--no-such-flag', 'x'], /Unknown option '--no-such-flag'/],
    [['deploy', '--tls-cert', '-----BEGIN CERTIFICATE-----'], /--tls-cert/],
  ])('refuses %j', (args, message) => {
    expect(usageError(args)).toMatch(message)
  })

  it('asks for help', () => {
    expect(parseCommandLine(['--help'])).toEqual({ help: true })
    expect(parseCommandLine(['deploy', '-h'])).toEqual({ help: true })
  })
})

// cli() as the vic-lb command runs it, up to the point where the inputs are refused or the Docker
// host cannot be reached (the end-to-end tests go further).
describe('cli', () => {
  class Capture {
    text = ''
    isTTY = false
    write = (chunk: string | Uint8Array): boolean => {
      this.text += String(chunk)
      return true
    }
  }
  let savedExitCode: typeof process.exitCode
  let processOut: string
  beforeEach(() => {
    savedExitCode = process.exitCode
    processOut = ''
    // The Actions log writes to the process's stdout, as @actions/core does.
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      processOut += String(chunk)
      return true
    })
  })
  afterEach(() => {
    vi.restoreAllMocks()
    useLog(actionsLog)
    process.exitCode = savedExitCode
  })

  function io(env: NodeJS.ProcessEnv = {}): CliIo & { stdout: Capture; stderr: Capture } {
    return { env, stdout: new Capture(), stderr: new Capture() }
  }

  it('prints a usage error on stderr with exit code 2', async () => {
    const streams = io()
    await cli(['deploy', '--output', 'xml'], streams)
    expect(process.exitCode).toBe(2)
    expect(streams.stderr.text).toBe("vic-lb: Invalid --output 'xml'. Expected one of: text, json.\nRun 'vic-lb --help' for every command and flag.\n")
    expect(streams.stdout.text).toBe('')
  })

  it('prints help on stdout with exit code 0', async () => {
    const streams = io()
    await cli(['--help'], streams)
    expect(process.exitCode).toBe(savedExitCode)
    expect(streams.stdout.text).toBe(`${usage()}\n`)
  })

  it('fails bad input for a person: a plain error on stderr, exit code 1, no workflow commands', async () => {
    const streams = io()
    await cli(['deploy', '--image', 'web:1', '--instances', '0', '--output', 'json'], streams)
    expect(process.exitCode).toBe(1)
    expect(streams.stderr.text).toBe("error: Invalid instances '0'. Expected a whole number from 1 to 100, written without sign or leading zeros.\n")
    // --output json prints nothing on failure: a script sees the exit code and an empty stdout.
    expect(streams.stdout.text).toBe('')
    expect(processOut).toBe('')
  })

  it('refuses --ingress without --hostname, and --hostname without --ingress, before connecting to anything', async () => {
    // A Docker host that is not there: should the check go, the run must not reach a real one.
    const absentHost = ['--docker-host', 'unix:///nonexistent-vic-lb-cli.sock']
    const withoutHostname = io()
    await cli(['deploy', ...absentHost, '--image', 'web:1', '--ingress', 'previews'], withoutHostname)
    expect(process.exitCode).toBe(1)
    expect(withoutHostname.stderr.text).toMatch(/^error: Input 'ingress' needs 'hostname'/)
    expect(withoutHostname.stdout.text).toBe('')

    const withoutIngress = io()
    await cli(['deploy', ...absentHost, '--image', 'web:1', '--hostname', 'pr-42.preview.example.com'], withoutIngress)
    expect(withoutIngress.stderr.text).toMatch(/^error: Input 'hostname' needs 'ingress'/)
    expect(withoutIngress.stdout.text).toBe('')
  })

  it('in a workflow step (GITHUB_ACTIONS=true) prints workflow commands, as the action does', async () => {
    const streams = io({ GITHUB_ACTIONS: 'true', GITHUB_OUTPUT: '/dev/null' })
    await cli(['deploy', '--image', 'web:1', '--instances', '0'], streams)
    expect(process.exitCode).toBe(1)
    expect(processOut).toBe("::error::Invalid instances '0'. Expected a whole number from 1 to 100, written without sign or leading zeros.\n")
    expect(streams.stdout.text + streams.stderr.text).toBe('')
  })

  it('masks the contents of a secret file flag', async () => {
    const actions = io({ GITHUB_ACTIONS: 'true', GITHUB_OUTPUT: '/dev/null' })
    const args = ['deploy', '--image', 'web:1', '--instances', '0', '--tls-key-file', file('key.pem', KEY)]
    await cli(args, actions)
    expect(processOut.split('\n')).toContain(`::add-mask::${KEY_LINE}`)

    const person = io()
    await cli(args, person)
    // What the run registered is what the person's log replaces, whatever prints it later.
    log.info(`key: ${KEY_LINE}`)
    expect(person.stdout.text).toBe('key: ***\n')
  })

  it('masks a secret input in the error a person reads', async () => {
    const streams = io()
    await cli(['deploy', '--image', 'web:1', '--docker-host', 'unix:///nonexistent-vic-lb-cli.sock'], streams)
    expect(process.exitCode).toBe(1)
    expect(streams.stderr.text).toMatch(/^error: Cannot reach the Docker host \*\*\*: /)
    expect(streams.stderr.text).not.toContain('unix:///nonexistent-vic-lb-cli.sock')
    expect(streams.stdout.text).toMatch(/^▸ Connect to the Docker host\n✗ Connect to the Docker host failed after \d+\.\ds\n$/)
  }, 30_000)
})
