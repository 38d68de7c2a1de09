import { describe, expect, it } from 'vitest'
import { obtainImage } from '../src/docker/images'
import { FakeHost } from './fake-docker-host'

describe('obtainImage', () => {
  const lines: string[] = []
  const log = (line: string) => lines.push(line)

  it('always: pulls, and reports the pull', async () => {
    const host = new FakeHost()
    host.images = ['app:1']
    expect(await obtainImage(host, 'app:1', { policy: 'always' }, log)).toEqual({ reference: 'app:1', id: 'sha256:app:1' })
    expect(host.calls).toEqual(['pull app:1'])
    expect(lines).toContain('app:1: Pull complete')
  })

  it('missing and never: an image the host has asks no registry', async () => {
    const host = new FakeHost()
    host.images = ['app:1']
    expect((await obtainImage(host, 'app:1', { policy: 'missing' }, log)).id).toBe('sha256:app:1')
    expect((await obtainImage(host, 'app:1', { policy: 'never' }, log)).id).toBe('sha256:app:1')
    expect(host.calls).toEqual([])
  })

  it('missing pulls what the host lacks; never refuses it before anything is created', async () => {
    const host = new FakeHost()
    expect((await obtainImage(host, 'app:2', { policy: 'missing' }, log)).id).toBe('sha256:app:2')
    await expect(obtainImage(host, 'app:3', { policy: 'never' }, log)).rejects.toThrow(/^Image app:3 is not on the Docker host, and pull is 'never'\./)
    expect(host.calls).toEqual(['pull app:2'])
  })

  it('uses the copy on the host, with a warning, when the registry refuses; fails naming the image when there is none', async () => {
    const host = new FakeHost()
    host.images = ['app:1']
    host.pullFailures.set('app:1', new Error('registry unreachable'))
    host.pullFailures.set('app:9', new Error('manifest unknown'))
    expect(await obtainImage(host, 'app:1', { policy: 'always' }, log)).toEqual({
      reference: 'app:1',
      id: 'sha256:app:1',
      warning: 'Could not pull app:1 (registry unreachable); using the copy already on the Docker host.',
    })
    await expect(obtainImage(host, 'app:9', { policy: 'always' }, log)).rejects.toThrow(/^Could not pull image app:9: manifest unknown\. Check the image name/)
  })

  it('passes a cancellation on instead of falling back to the copy on the host', async () => {
    const host = new FakeHost()
    host.images = ['app:1']
    const controller = new AbortController()
    controller.abort(new Error('cancelled'))
    host.pullFailures.set('app:1', new Error('aborted'))
    await expect(obtainImage(host, 'app:1', { policy: 'always', signal: controller.signal }, log)).rejects.toThrow('cancelled')
  })

  it("takes an image the host built or loaded itself (Podman's localhost/) without asking a registry, whatever the policy", async () => {
    const host = new FakeHost()
    host.images = ['localhost/app:1', 'localhost/tools/web:2', 'registry.example/app:1']
    const options = { policy: 'always', localImageNamespace: 'localhost/' } as const
    expect(await obtainImage(host, 'app:1', options, log)).toEqual({ reference: 'app:1', id: 'sha256:localhost/app:1' })
    expect(await obtainImage(host, 'tools/web:2', options, log)).toEqual({ reference: 'tools/web:2', id: 'sha256:localhost/tools/web:2' })
    expect(lines).toContain("app:1: the host's own image localhost/app:1, from no registry: not pulled")
    expect(host.calls).toEqual([])
    // A reference that names a registry, or that the host has from one, is pulled as the policy says.
    await obtainImage(host, 'registry.example/app:1', options, log)
    await obtainImage(host, 'app:2', options, log)
    expect(host.calls).toEqual(['pull registry.example/app:1', 'pull app:2'])
  })
})
