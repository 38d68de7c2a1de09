import { describe, expect, it } from 'vitest'
import { detectHost, isNameClash, lbUser } from '../src/docker/host-profile'

// GET /version and GET /info as each host answers them (trimmed to what tells them apart).
const DOCKERD_20 = {
  version: { Version: '20.10.24+dfsg1', ApiVersion: '1.41', Components: [{ Name: 'Engine', Version: '20.10.24+dfsg1' }] },
  info: { ID: 'ABCD:EFGH', Driver: 'overlay2' },
}
const DOCKERD_19 = { version: { Version: '19.03.15', ApiVersion: '1.40', Components: [{ Name: 'Engine', Version: '19.03.15' }] }, info: { Driver: 'overlay2' } }
const PODMAN = {
  version: {
    Version: '4.3.1',
    ApiVersion: '1.41',
    Components: [
      { Name: 'Podman Engine', Version: '4.3.1' },
      { Name: 'Conmon', Version: 'conmon version 2.1.6' },
    ],
  },
  info: { ID: '93c17c39-0b1a-4b4f-9649-65d937eacc36', Driver: 'overlay' },
}
const VCH = {
  version: { Version: 'v1.5.8-21620-49f7ba1', ApiVersion: '1.25', Components: [{ Name: 'Engine', Version: 'v1.5.8-21620-49f7ba1' }] },
  info: { ID: 'vSphere Integrated Containers', Driver: 'vSphere Integrated Containers v1.5.8-21620-49f7ba1 Backend Engine' },
}

const hostOf = ({ version, info }: { version: object; info: object }) => detectHost(version, info)

function httpError(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) ${message}`), { statusCode, json: { message } })
}

describe('detectHost', () => {
  it('names each host as it is, for the logs', () => {
    expect(hostOf(DOCKERD_20)).toMatchObject({ kind: 'docker', name: 'Docker Engine 20.10.24+dfsg1' })
    expect(hostOf(PODMAN)).toMatchObject({ kind: 'podman', name: 'Podman 4.3.1' })
    expect(hostOf(VCH)).toMatchObject({
      kind: 'vch',
      name: 'vSphere Integrated Containers host (vSphere Integrated Containers v1.5.8-21620-49f7ba1 Backend Engine)',
    })
    // Either field of /info tells a VCH.
    expect(detectHost(VCH.version, { Driver: VCH.info.Driver }).kind).toBe('vch')
    expect(detectHost(VCH.version, { ID: VCH.info.ID }).kind).toBe('vch')
  })

  it('starts many containers at once only where a start is a VM boot', () => {
    expect(hostOf(VCH).startsAtOnce).toBeGreaterThan(hostOf(DOCKERD_20).startsAtOnce)
    expect(hostOf(PODMAN).startsAtOnce).toBe(hostOf(DOCKERD_20).startsAtOnce)
  })

  it('sets restart policies at create, bounded on Podman, never on a VCH', () => {
    expect(hostOf(DOCKERD_20).restartPolicy).toEqual({ Name: 'unless-stopped' })
    expect(hostOf(PODMAN).restartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 5 })
    expect(hostOf(VCH).restartPolicy).toBeUndefined()
  })

  it('lists stopped containers only with the status filters each host accepts and matches', () => {
    expect(hostOf(DOCKERD_20).stoppedStatuses).toEqual(['exited', 'dead', 'restarting'])
    // Podman answers 500 "unknown container state" to dead and restarting.
    expect(hostOf(PODMAN).stoppedStatuses).toEqual(['exited'])
    expect(hostOf(VCH).stoppedStatuses).toEqual(['exited'])
  })

  it('knows where a non-root process may bind a port below 1024', () => {
    expect(hostOf(DOCKERD_20).unprivilegedLowPorts).toBe(true)
    expect(hostOf(DOCKERD_19).unprivilegedLowPorts).toBe(false)
    expect(hostOf(PODMAN).unprivilegedLowPorts).toBe(false)
    expect(hostOf(VCH).unprivilegedLowPorts).toBe(false)
  })

  it('says something in the log only where the host needs explaining', () => {
    expect(hostOf(DOCKERD_20).note).toBeUndefined()
    expect(hostOf(VCH).note).toMatch(/^VCH: .*restart policies do not apply/)
    expect(hostOf(PODMAN).note).toMatch(/^Podman: containers restart on failure at most 5 times/)
  })

  it("lists a container's processes where the host can, in the words of its own ps", () => {
    expect(hostOf(DOCKERD_20).processListArgs).toBe('-o pid,ppid,comm')
    expect(hostOf(PODMAN).processListArgs).toBe('pid,ppid,comm')
    expect(hostOf(VCH).processListArgs).toBeUndefined()
  })
})

describe('isNameClash', () => {
  const podmanClash = httpError(
    500,
    'container create: creating container storage: the container name "pr-1-lock" is already in use by 8b4c9d6. You have to remove that container to be able to reuse that name: that name is already in use',
  )

  it('is a 409 on dockerd and a VCH', () => {
    for (const host of [hostOf(DOCKERD_20), hostOf(VCH)]) {
      expect(isNameClash(host, httpError(409, 'Conflict. The container name "/pr-1-lock" is already in use'))).toBe(true)
      expect(isNameClash(host, podmanClash)).toBe(false)
      expect(isNameClash(host, httpError(404, 'No such image'))).toBe(false)
    }
  })

  it('is a 500 saying the name is in use on Podman, and no other 500', () => {
    const podman = hostOf(PODMAN)
    expect(isNameClash(podman, podmanClash)).toBe(true)
    expect(isNameClash(podman, httpError(500, 'runc: error setting rlimit type 7'))).toBe(false)
    expect(isNameClash(podman, httpError(409, 'conflict'))).toBe(false)
    expect(isNameClash(podman, new Error('socket hang up'))).toBe(false)
  })
})

describe('lbUser', () => {
  it('gives root only to bind below 1024 where a non-root process may not', () => {
    for (const host of [hostOf(PODMAN), hostOf(VCH), hostOf(DOCKERD_19)]) {
      expect(lbUser(host, 80)).toBe('root')
      expect(lbUser(host, 443)).toBe('root')
      expect(lbUser(host, 1023)).toBe('root')
      expect(lbUser(host, 1024)).toBeUndefined()
      expect(lbUser(host, 8080)).toBeUndefined()
    }
    expect(lbUser(hostOf(DOCKERD_20), 80)).toBeUndefined()
    expect(lbUser(hostOf(DOCKERD_20), 1)).toBeUndefined()
  })
})
