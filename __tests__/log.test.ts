import * as fs from 'node:fs'
import * as path from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { actionsLog, log, useLog, type Log } from '../src/log'

let written = ''
let savedExitCode: typeof process.exitCode
beforeEach(() => {
  written = ''
  savedExitCode = process.exitCode
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written += String(chunk)
    return true
  })
})
afterEach(() => {
  vi.restoreAllMocks()
  useLog(actionsLog)
  process.exitCode = savedExitCode
})

describe('the Actions log', () => {
  it('prints the workflow commands the runner reads, and nothing for progress', async () => {
    await log.group('Pull images', async () => {
      log.info('pulled')
      log.progress('1 of 3 instances healthy')
    })
    log.warning('careful\nnext line')
    log.debug('detail')
    log.setSecret('s3cr3t-value')
    log.setFailed('failed: 100%')
    expect(written).toBe(
      [
        '::group::Pull images',
        'pulled',
        '::endgroup::',
        '::warning::careful%0Anext line',
        '::debug::detail',
        '::add-mask::s3cr3t-value',
        '::error::failed: 100%25',
        '',
      ].join('\n'),
    )
    expect(process.exitCode).toBe(1)
  })
})

describe("the Actions log quoting a container's output", () => {
  it('pauses the workflow commands around it under a token the text cannot know', () => {
    const text = '::add-mask::x\n::error::not from us'
    log.quote(text)
    log.quote(text)
    const lines = written.split('\n')
    const token = lines[0].replace('::stop-commands::', '')
    expect(token).toMatch(/^[0-9a-f-]{36}$/)
    expect(lines.slice(0, 4)).toEqual([`::stop-commands::${token}`, '::add-mask::x', '::error::not from us', `::${token}::`])
    expect(lines[4]).toMatch(/^::stop-commands::/)
    expect(lines[4]).not.toBe(lines[0])
  })
})

describe('log', () => {
  it('forwards to the log chosen at start, also through unbound methods', () => {
    const lines: string[] = []
    useLog({ ...actionsLog, info: (message) => lines.push(message) } satisfies Log)
    const info = log.info
    info('through a callback')
    expect(lines).toEqual(['through a callback'])
    expect(written).toBe('')
  })

  // One seam: a module that printed through @actions/core itself would bypass a person's log,
  // its timings and its masking.
  it('is the only way the sources print', () => {
    const src = path.resolve(__dirname, '../src')
    const files = (fs.readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && f !== 'log.ts')
    const direct = /\bcore\.(info|notice|warning|error|debug|group|startGroup|endGroup|setSecret|setOutput|setFailed)\b/
    const offenders = files.filter((f) => direct.test(fs.readFileSync(path.join(src, f), 'utf8')))
    expect(offenders).toEqual([])
  })
})
