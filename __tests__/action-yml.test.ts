import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { INPUT_SPECS } from '../src/inputs'

// action.yml is what the runner reads; INPUT_SPECS is what the code reads. They must agree.
const root = path.resolve(__dirname, '..')

interface ActionInput {
  description?: string
  required?: boolean
  default?: unknown
}

interface ActionYml {
  name?: string
  description?: string
  inputs: Record<string, ActionInput>
  outputs: Record<string, { description?: string }>
  runs: { using: string; main: string; post?: string }
}

const action = parse(readFileSync(path.join(root, 'action.yml'), 'utf8')) as ActionYml

describe('action.yml', () => {
  it('has a name and a description', () => {
    expect(action.name).toBeTruthy()
    expect(action.description).toBeTruthy()
  })

  it('declares exactly the inputs of INPUT_SPECS, in the same order', () => {
    expect(Object.keys(action.inputs)).toEqual(INPUT_SPECS.map((s) => s.name))
  })

  it.each(INPUT_SPECS.map((s) => [s.name, s] as const))('input %s has the same default and description', (name, spec) => {
    const declared = action.inputs[name]
    expect(declared, `action.yml lacks input ${name}`).toBeDefined()
    expect(declared.description).toBe(spec.description)
    if (spec.default === undefined) expect(declared).not.toHaveProperty('default')
    else {
      // A default the runner reads as a string, e.g. "3", not a YAML number or boolean.
      expect(typeof declared.default).toBe('string')
      expect(declared.default).toBe(spec.default)
    }
    // The code applies defaults and checks requirements itself.
    expect(declared.required ?? false).toBe(false)
  })

  it('declares the outputs ip, port, url, lb-container and instances, each described', () => {
    expect(Object.keys(action.outputs).sort()).toEqual(['instances', 'ip', 'lb-container', 'port', 'url'])
    for (const [name, output] of Object.entries(action.outputs)) expect(output.description, name).toBeTruthy()
  })

  it('declares every output that main.ts sets, and main.ts sets every declared output', () => {
    const source = readFileSync(path.join(root, 'src', 'main.ts'), 'utf8')
    const set = [...source.matchAll(/setOutput\(\s*'([^']+)'/g)].map((m) => m[1])
    expect(set.sort()).toEqual(Object.keys(action.outputs).sort())
  })

  it('runs dist/index.js on node24, which the build makes from src/index.ts, and dist/post.js as the post step', () => {
    expect(action.runs.using).toBe('node24')
    expect(action.runs.main).toBe('dist/index.js')
    // The post step is the same bundle, entered through post.js (src/start.ts tells them apart by that name).
    expect(action.runs.post).toBe('dist/post.js')
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    expect(pkg.scripts.build).toMatch(/ncc build src\/index\.ts -o dist(\s|$)/)
    expect(pkg.scripts.build).toMatch(/cp src\/post-step\.cjs dist\/post\.js/)
    expect(readFileSync(path.join(root, 'src', 'post-step.cjs'), 'utf8')).toMatch(/^require\('\.\/index\.js'\)$/m)
    expect(existsSync(path.join(root, 'src', 'index.ts'))).toBe(true)
  })

  it('bundles neither ssh2, gRPC nor protobufjs, which dockerode loads for ssh:// hosts and BuildKit builds (src/docker/not-bundled.ts)', () => {
    const dist = path.join(root, 'dist')
    const bundle = readdirSync(dist)
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(path.join(dist, file), 'utf8'))
      .join('\n')
    expect(bundle).toContain("is not part of vic-lb-action's bundle")
    // ssh2's client banner and grpc-js's user agent, in the bundle while it held them.
    expect(bundle).not.toContain('SSH-2.0-ssh2js')
    expect(bundle).not.toContain('grpc-node-js')
    // protobufjs's base class of every reflected type.
    expect(bundle).not.toContain('ReflectionObject')
  })

  it('loads undici only when the GitHub API client uses it (src/github/undici-on-demand.ts), not as @actions/core loads', () => {
    // undici sets Node's global dispatcher as it loads; Node's own fetch sets it only when called.
    const script = `process.argv = [process.argv[0], 'dist/index.js', '--help']
process.on('exit', () => { if (globalThis[Symbol.for('undici.globalDispatcher.1')] !== undefined) { console.error('undici was loaded'); process.exitCode = 3 } })
require('./dist/index.js')`
    const run = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' })
    expect(run.stderr).toBe('')
    expect(run.stdout).toContain('Usage')
    expect(run.status).toBe(0)
  })
})
