import type Docker from 'dockerode'
import { describe, expect, it } from 'vitest'
import { getFile, hasPath } from '../src/docker/archive'

// A container whose archive read fails as the host answered.
function answering(statusCode: number, message: string): Docker.Container {
  const error = Object.assign(new Error(message), { statusCode })
  return { getArchive: () => Promise.reject(error) } as unknown as Docker.Container
}

describe('reading a file from a container', () => {
  it.each([
    ['a 404', 404, '(HTTP code 404) no such container - Could not find the file /vic-lb-lease in container x'],
    ["Podman 4.3's 500 for a file replaced while read", 500, '(HTTP code 500) server error - no such file or directory'],
  ])('takes %s for a file that is not there', async (_, status, message) => {
    await expect(getFile(answering(status, message), '/vic-lb-lease')).resolves.toBeUndefined()
    await expect(hasPath(answering(status, message), '/vic-lb-lease')).resolves.toBe(false)
  })

  it.each([
    ["a container removed while read (Podman 5.4: 500 'no such container')", '(HTTP code 500) server error - no such container - no such file or directory'],
    ['any other 500', '(HTTP code 500) server error - layer not known'],
  ])('passes on %s', async (_, message) => {
    await expect(getFile(answering(500, message), '/vic-lb-lease')).rejects.toThrow(message)
  })
})
