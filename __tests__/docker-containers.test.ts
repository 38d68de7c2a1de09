import { describe, expect, it } from 'vitest'
import type Docker from 'dockerode'
import { demultiplex, removeObjects } from '../src/docker/containers'
import { NEWEST_KNOWN_API, OLDEST_SUPPORTED_API, describe as describeError } from '../src/docker/engine'
import { compareApi } from '../src/docker/host-profile'

// One frame of the Engine API's multiplexed log stream: stream type (1 stdout, 2 stderr), three
// zero bytes, the payload length as a big-endian 32-bit integer, then the payload.
function frame(stream: 0 | 1 | 2, payload: string | Buffer): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8')
  const header = Buffer.alloc(8)
  header[0] = stream
  header.writeUInt32BE(body.length, 4)
  return Buffer.concat([header, body])
}

describe('demultiplex', () => {
  it('joins stdout and stderr frames in the order they were written, without the headers', () => {
    const raw = Buffer.concat([frame(1, 'listening on :80\n'), frame(2, 'warning: no config\n'), frame(1, 'ready\n')])
    expect(demultiplex(raw)).toBe('listening on :80\nwarning: no config\nready\n')
  })

  it('reads a frame longer than 255 and than 65535 bytes (a 32-bit length)', () => {
    const big = 'x'.repeat(70_000)
    const raw = Buffer.concat([frame(2, big), frame(1, 'end')])
    expect(demultiplex(raw)).toBe(`${big}end`)
  })

  it('keeps a UTF-8 character split across two frames whole', () => {
    const euro = Buffer.from('€', 'utf8') // 3 bytes
    const raw = Buffer.concat([
      frame(1, Buffer.concat([Buffer.from('price: '), euro.subarray(0, 1)])),
      frame(1, Buffer.concat([euro.subarray(1), Buffer.from('5\n')])),
    ])
    expect(demultiplex(raw)).toBe('price: €5\n')
  })

  it('skips empty frames', () => {
    expect(demultiplex(Buffer.concat([frame(1, ''), frame(2, 'only this'), frame(1, '')]))).toBe('only this')
  })

  it('keeps what there is of a frame cut short by the tail limit', () => {
    const whole = frame(1, 'complete\n')
    const cut = frame(2, 'truncated line\n').subarray(0, 8 + 5)
    expect(demultiplex(Buffer.concat([whole, cut]))).toBe('complete\ntrunc')
  })

  it('gives the raw output of a TTY container unchanged', () => {
    const text = '2024/05/01 12:00:00 [notice] 1#1: start worker processes\r\nok\n'
    expect(demultiplex(Buffer.from(text))).toBe(text)
  })

  it('gives short raw output unchanged', () => {
    expect(demultiplex(Buffer.from('ok\n'))).toBe('ok\n')
    expect(demultiplex(Buffer.alloc(0))).toBe('')
  })

  it('does not take raw text starting with a control byte for frames', () => {
    const text = '\u0001\u0001 odd but raw output\n'
    expect(demultiplex(Buffer.from(text))).toBe(text)
  })
})

describe('compareApi', () => {
  it('orders by major, then minor, as numbers', () => {
    expect(compareApi('1.47', '1.25')).toBeGreaterThan(0)
    expect(compareApi('1.25', '1.47')).toBeLessThan(0)
    expect(compareApi('1.44', '1.44')).toBe(0)
    // Not as strings: 1.9 is older than 1.10.
    expect(compareApi('1.9', '1.10')).toBeLessThan(0)
    expect(compareApi('1.100', '1.99')).toBeGreaterThan(0)
    expect(compareApi('2.0', '1.47')).toBeGreaterThan(0)
    expect(compareApi('1.47', '2.0')).toBeLessThan(0)
  })

  it('is antisymmetric and sorts versions numerically', () => {
    const versions = ['1.44', '1.9', '2.0', '1.25', '1.100', '1.47', '1.10', '1.24']
    for (const a of versions) for (const b of versions) expect(Math.sign(compareApi(a, b)) + Math.sign(compareApi(b, a))).toBe(0)
    expect([...versions].sort(compareApi)).toEqual(['1.9', '1.10', '1.24', '1.25', '1.44', '1.47', '1.100', '2.0'])
  })

  it('the supported range is sane: a VCH (1.25) and Docker 29 (1.44+) both fall in it', () => {
    expect(compareApi(OLDEST_SUPPORTED_API, NEWEST_KNOWN_API)).toBeLessThan(0)
    expect(compareApi('1.25', OLDEST_SUPPORTED_API)).toBeGreaterThanOrEqual(0)
    expect(compareApi('1.44', NEWEST_KNOWN_API)).toBeLessThanOrEqual(0)
    expect(compareApi('1.24', OLDEST_SUPPORTED_API)).toBeLessThan(0)
  })
})

describe('describe (Docker errors)', () => {
  it("prefers the Engine's JSON message over dockerode's wrapper text", () => {
    const error = Object.assign(new Error('(HTTP code 404) no such container - No such container: lb '), {
      json: { message: 'No such container: lb' },
      statusCode: 404,
    })
    expect(describeError(error)).toBe('No such container: lb')
  })

  it('falls back to the error message, and to String() for non-errors', () => {
    expect(describeError(new Error('connect ENOENT /var/run/docker.sock'))).toBe('connect ENOENT /var/run/docker.sock')
    expect(describeError('plain')).toBe('plain')
  })
})

describe('removeObjects', () => {
  // A host whose removals answer with these errors first, then succeed.
  function hostRefusing(errors: Record<string, { statusCode: number; message: string }[]>) {
    const calls: string[] = []
    const answer = async (what: string) => {
      calls.push(what)
      const next = errors[what]?.shift()
      if (next)
        throw Object.assign(new Error(`(HTTP code ${next.statusCode}) ${next.message}`), { statusCode: next.statusCode, json: { message: next.message } })
    }
    const docker = {
      getContainer: (id: string) => ({ remove: () => answer(`container ${id}`) }),
      getNetwork: (id: string) => ({ remove: () => answer(`network ${id}`) }),
    }
    return { docker: docker as unknown as Docker, calls }
  }

  it("tries again while Podman's restart policy holds a container, and while dockerd still counts a network's endpoints", async () => {
    const { docker, calls } = hostRefusing({
      'container c1': [{ statusCode: 500, message: 'cannot remove container c1 as it could not be stopped: container state improper: stopped' }],
      'network n1': [{ statusCode: 403, message: 'error while removing network: network n1 id n1 has active endpoints' }],
    })
    expect(await removeObjects(docker, ['c1', 'c2'], ['n1'])).toEqual([])
    expect(calls).toEqual(['container c1', 'container c2', 'container c1', 'network n1', 'network n1'])
  })

  it('reports what it could not remove, and takes one already gone as removed', async () => {
    const { docker } = hostRefusing({
      'container c1': [{ statusCode: 500, message: 'driver failed' }],
      'container c2': [{ statusCode: 404, message: 'No such container: c2' }],
    })
    expect(await removeObjects(docker, ['c1', 'c2'], [])).toEqual(['container c1: driver failed'])
  })
})
