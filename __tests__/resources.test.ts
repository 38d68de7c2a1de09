import { describe, expect, it } from 'vitest'
import { describeResources, instanceResources } from '../src/docker/resources'
import { InputError } from '../src/errors'

const MIB = 1024 ** 2

const VM = { instanceSize: 'containerVM' } as const
const LIMITS = { instanceSize: 'cgroup-limits' } as const

describe('instanceResources', () => {
  it('nothing given: nothing set, the host default applies', () => {
    expect(instanceResources({}, LIMITS)).toEqual({})
    expect(instanceResources({}, VM)).toEqual({})
    expect(describeResources({}, VM)).toBeUndefined()
  })

  it('Docker and Podman: a memory limit in bytes and a CPU quota in NanoCpus', () => {
    expect(instanceResources({ memoryBytes: 512 * MIB, cpus: 0.5 }, LIMITS)).toEqual({ Memory: 512 * MIB, NanoCpus: 500_000_000 })
    expect(instanceResources({ cpus: 0.07 }, LIMITS)).toEqual({ NanoCpus: 70_000_000 })
    expect(describeResources({ Memory: 512 * MIB, NanoCpus: 5e8 }, LIMITS)).toBe('Each instance is limited to 512 MiB and 0.5 CPU(s)')
  })

  it.each([
    [512 * MIB, 512],
    [513 * MIB, 640],
    [700 * MIB, 768],
    [2048 * MIB, 2048],
    [1.5 * 1024 * MIB, 1536],
  ])('VCH: %d bytes is a containerVM of %d MiB (rounded up to 128)', (bytes, mib) => {
    expect(instanceResources({ memoryBytes: bytes }, VM)).toEqual({ Memory: mib * MIB })
  })

  it.each([
    [0.01, 1],
    [0.5, 1],
    [1, 1],
    [1.5, 2],
    [2, 2],
    [16, 16],
  ])('VCH: %d CPUs are %d whole vCPUs (CPUCount; NanoCpus would be ignored)', (cpus, count) => {
    expect(instanceResources({ cpus }, VM)).toEqual({ CPUCount: count })
  })

  it('VCH: less than 512 MiB is refused, naming the input', () => {
    expect(() => instanceResources({ memoryBytes: 256 * MIB }, VM)).toThrow(InputError)
    expect(() => instanceResources({ memoryBytes: 256 * MIB }, VM)).toThrow(/instance-memory.*512 MiB/)
    expect(instanceResources({ memoryBytes: 256 * MIB }, LIMITS)).toEqual({ Memory: 256 * MIB })
    expect(describeResources({ Memory: 768 * MIB, CPUCount: 2 }, VM)).toBe('Each instance is a containerVM with 768 MiB and 2 vCPU(s)')
  })
})
