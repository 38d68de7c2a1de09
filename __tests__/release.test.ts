import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

// script/release in a scratch repository with a bare "origin": what it tags, what it moves, what it refuses.

const SCRIPT = path.resolve(__dirname, '../script/release')
let dir: string
let work: string

const git = (...args: string[]): string => execFileSync('git', args, { cwd: work, encoding: 'utf8' }).trim()
const release = (...args: string[]) =>
  spawnSync('bash', ['script/release', ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, RELEASE_SKIP_BUILD: '1' } })
const commit = (text: string): void => {
  writeFileSync(path.join(work, 'file.txt'), text)
  git('add', '-A')
  git('commit', '-q', '-m', text)
  git('push', '-q', 'origin', 'HEAD:main')
}
const tagged = (tag: string): string => git('rev-parse', `${tag}^{commit}`)

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vic-lb-release-'))
  work = path.join(dir, 'work')
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', path.join(dir, 'origin.git')])
  execFileSync('git', ['init', '-q', '-b', 'main', work])
  git('config', 'user.email', 'test@example.com')
  git('config', 'user.name', 'test')
  git('remote', 'add', 'origin', path.join(dir, 'origin.git'))
  mkdirSync(path.join(work, 'script'))
  copyFileSync(SCRIPT, path.join(work, 'script/release'))
  commit('one')
})

afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('script/release', () => {
  it('tags vX.Y.Z, moves vX along with each release, and pushes both', () => {
    expect(release('1.0.0').status).toBe(0)
    commit('two')
    const second = release('1.1.0')
    expect(second.status, second.stderr).toBe(0)
    const head = git('rev-parse', 'HEAD')
    expect(tagged('v1.1.0')).toBe(head)
    expect(tagged('v1')).toBe(head)
    expect(tagged('v1.0.0')).not.toBe(head)
    const remote = execFileSync('git', ['ls-remote', '--tags', path.join(dir, 'origin.git')], { encoding: 'utf8' })
    expect(remote).toMatch(/refs\/tags\/v1\.0\.0/)
    expect(remote).toMatch(/refs\/tags\/v1\.1\.0/)
    expect(remote).toContain(`${git('rev-parse', 'v1')}\trefs/tags/v1\n`)
  })

  it('refuses a version that is not X.Y.Z, an existing one, or one older than the latest', () => {
    expect(release('1.2').stderr).toMatch(/X\.Y\.Z/)
    expect(release('1.2.0').status).toBe(0)
    commit('two')
    expect(release('1.2.0').stderr).toMatch(/exists already/)
    expect(release('1.1.9').stderr).toMatch(/not newer than the latest release v1\.2\.0/)
  })

  it('refuses uncommitted changes and a HEAD that is not the remote main', () => {
    writeFileSync(path.join(work, 'file.txt'), 'dirty')
    expect(release('1.0.0').stderr).toMatch(/uncommitted changes/)
    git('commit', '-q', '-am', 'local only')
    expect(release('1.0.0').stderr).toMatch(/HEAD is not origin\/main/)
    expect(git('tag', '--list')).toBe('')
  })
})
