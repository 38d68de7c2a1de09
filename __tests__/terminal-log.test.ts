import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { elapsed, terminalLog } from '../src/terminal-log'

// The log a person reads: captured streams, a clock the test moves.

class Capture {
  text = ''
  constructor(readonly isTTY?: boolean) {}
  write = (chunk: string | Uint8Array): boolean => {
    this.text += String(chunk)
    return true
  }
  get lines(): string[] {
    return this.text.split('\n').slice(0, -1)
  }
}

const ESC = '\x1b['

function setUp(options: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  const out = new Capture(options.tty)
  const err = new Capture(options.tty)
  let clock = 1_000_000
  const log = terminalLog({ out, err, env: options.env ?? {}, now: () => clock })
  return { out, err, log, tick: (ms: number) => (clock += ms) }
}

let savedExitCode: typeof process.exitCode
beforeEach(() => {
  savedExitCode = process.exitCode
})
afterEach(() => {
  process.exitCode = savedExitCode
})

describe('steps', () => {
  it('prints each step, its lines indented under it, and its elapsed time', async () => {
    const { out, err, log, tick } = setUp()
    log.info('Before')
    const value = await log.group('Pull images', async () => {
      log.info('pulled a\npulled b')
      tick(1_530)
      return 42
    })
    await log.group('Wait', async () => {
      log.progress('1 of 2 instances healthy')
      tick(75_000)
    })
    expect(value).toBe(42)
    expect(out.lines).toEqual([
      'Before',
      '▸ Pull images',
      '  pulled a',
      '  pulled b',
      '✓ Pull images (1.5s)',
      '▸ Wait',
      '  1 of 2 instances healthy',
      '✓ Wait (1m15s)',
    ])
    expect(err.text).toBe('')
  })

  it('says which step failed after how long, and lets the failure through', async () => {
    const { out, log, tick } = setUp()
    const failing = log.group('Start instances', async () => {
      tick(2_000)
      throw new Error('boom')
    })
    await expect(failing).rejects.toThrow('boom')
    expect(out.lines).toEqual(['▸ Start instances', '✗ Start instances failed after 2.0s'])
    // The next step is not indented under the failed one.
    await log.group('Undo', async () => log.info('removed'))
    expect(out.lines.slice(2)).toEqual(['▸ Undo', '  removed', '✓ Undo (0.0s)'])
  })

  it('gives a group inside a step a heading only, not a time of its own', async () => {
    const { out, log } = setUp()
    await log.group('Wait', async () => {
      await log.group('Logs of web-1', async () => log.info('listening\nready'))
    })
    expect(out.lines).toEqual(['▸ Wait', '  ▸ Logs of web-1', '    listening', '    ready', '✓ Wait (0.0s)'])
  })

  it('formats times as a person reads them', () => {
    expect([0, 49, 950, 12_340, 59_900, 60_000, 61_499, 3_725_000].map(elapsed)).toEqual(['0.0s', '0.0s', '0.9s', '12.3s', '59.9s', '1m00s', '1m01s', '62m05s'])
  })
})

describe('warnings and errors', () => {
  it('go to stderr as plain lines with real newlines, never as workflow commands', () => {
    const { out, err, log } = setUp()
    log.warning('Could not pull web:1; using the copy on the host.')
    log.error('Instance web-1 exited with code 3. Its last log lines:\ncrash: 100% failing\nCheck the image.')
    expect(out.text).toBe('')
    expect(err.lines).toEqual([
      'warning: Could not pull web:1; using the copy on the host.',
      'error: Instance web-1 exited with code 3. Its last log lines:',
      'crash: 100% failing',
      'Check the image.',
    ])
    expect(err.text).not.toMatch(/::|%0A|%25/)
  })

  it('setFailed prints the error and makes the exit code 1', () => {
    const { err, log } = setUp()
    log.setFailed('Timed out waiting for the deployment to become ready.')
    expect(err.lines).toEqual(['error: Timed out waiting for the deployment to become ready.'])
    expect(process.exitCode).toBe(1)
  })

  it('shows debug lines only with RUNNER_DEBUG=1', () => {
    const quiet = setUp()
    quiet.log.debug('no github-token given')
    expect(quiet.err.text + quiet.out.text).toBe('')
    const verbose = setUp({ env: { RUNNER_DEBUG: '1' } })
    verbose.log.debug('no github-token given')
    expect(verbose.err.lines).toEqual(['debug: no github-token given'])
  })
})

describe('colour', () => {
  const printAll = async (log: ReturnType<typeof setUp>['log']) => {
    await log.group('Step', async () => log.progress('waiting'))
    log.warning('careful')
    log.error('failed')
  }

  it('is used on a terminal', async () => {
    const { out, err, log } = setUp({ tty: true })
    await printAll(log)
    expect(out.lines[0]).toBe(`▸ ${ESC}1mStep${ESC}22m`)
    expect(out.lines[1]).toBe(`  ${ESC}2mwaiting${ESC}22m`)
    expect(out.lines[2]).toBe(`${ESC}32m✓${ESC}39m Step ${ESC}2m(0.0s)${ESC}22m`)
    expect(err.lines).toEqual([`${ESC}33mwarning:${ESC}39m careful`, `${ESC}31merror:${ESC}39m failed`])
  })

  it.each([
    ['not on a pipe or file', { tty: false, env: {} }],
    ['not with NO_COLOR set', { tty: true, env: { NO_COLOR: '1' } }],
  ])('is %s', async (_, options) => {
    const { out, err, log } = setUp(options)
    await printAll(log)
    expect(out.text + err.text).not.toContain('\x1b')
    expect(out.lines[0]).toBe('▸ Step')
  })

  it('is used when NO_COLOR is empty (no-color.org: present and not empty)', async () => {
    const { out, log } = setUp({ tty: true, env: { NO_COLOR: '' } })
    await printAll(log)
    expect(out.text).toContain(ESC)
  })

  it('is decided per stream: a terminal on stderr, a pipe on stdout', () => {
    const out = new Capture(false)
    const err = new Capture(true)
    const log = terminalLog({ out, err, env: {} })
    log.info('plain')
    log.warning('painted')
    expect(out.text).toBe('plain\n')
    expect(err.text).toContain(ESC)
  })
})

describe('secrets', () => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\nQ2VjcmV0S2V5TWF0ZXJpYWxGb3JUZXN0\n-----END PRIVATE KEY-----'
  const [, line1, line2] = pem.split('\n')

  function secretLog(options: { tty?: boolean } = {}) {
    const set = setUp(options)
    set.log.setSecret(pem)
    for (const line of pem.split('\n')) set.log.setSecret(line)
    set.log.setSecret('tcp://vch.internal:2376')
    return set
  }

  it('are replaced with *** in information, warnings, errors and step names', async () => {
    const { out, err, log } = secretLog()
    log.info('Connected to tcp://vch.internal:2376')
    log.warning(`key line ${line1} seen`)
    await log.group('Talk to tcp://vch.internal:2376', async () => log.progress(`${line2}`))
    log.setFailed(`Cannot reach the Docker host tcp://vch.internal:2376`)
    const all = out.text + err.text
    for (const secret of [pem, line1, line2, 'vch.internal']) expect(all).not.toContain(secret)
    expect(out.lines).toEqual(['Connected to ***', '▸ Talk to ***', '  ***', '✓ Talk to *** (0.0s)'])
    expect(err.lines).toEqual(['warning: key line *** seen', 'error: Cannot reach the Docker host ***'])
  })

  it('are replaced whole before a multi-line message is indented or painted', async () => {
    const { out, log } = secretLog({ tty: true })
    await log.group('Step', async () => log.info(`before\n${pem}\nafter`))
    expect(out.text).not.toContain(line1)
    expect(out.lines.slice(1, 4)).toEqual(['  before', '  ***', '  after'])
  })

  it('ignores an empty value instead of masking everything', () => {
    const { out, log } = setUp()
    log.setSecret('')
    log.info('still readable')
    expect(out.lines).toEqual(['still readable'])
  })
})
