import { InputError } from '../errors'
import { type InstanceConfig } from '../inputs'
import type { HostProfile } from './host-profile'

// instance-memory and instance-cpus as each kind of host takes them (HostProfile.instanceSize). A Docker Engine or Podman
// limits the container (cgroups). A VCH sizes the containerVM instead: Memory in MiB rounded up to
// 128 (at least 512), vCPUs from CPUCount only (NanoCpus is ignored there).

const MIB = 1024 ** 2
const VCH_MEMORY_STEP_MIB = 128
const VCH_MEMORY_MIN_MIB = 512

export interface InstanceResources {
  Memory?: number
  NanoCpus?: number
  CPUCount?: number
}

// `input`: where the memory was given, for the error (a companion service's sizes as instances').
export function instanceResources(
  { memoryBytes, cpus }: Pick<InstanceConfig, 'memoryBytes' | 'cpus'>,
  host: Pick<HostProfile, 'instanceSize'>,
  input = 'instance-memory',
): InstanceResources {
  const resources: InstanceResources = {}
  if (host.instanceSize === 'cgroup-limits') {
    if (memoryBytes) resources.Memory = memoryBytes
    if (cpus) resources.NanoCpus = Math.round(cpus * 1e9)
    return resources
  }
  if (memoryBytes) {
    const mib = Math.ceil(memoryBytes / MIB / VCH_MEMORY_STEP_MIB) * VCH_MEMORY_STEP_MIB
    if (mib < VCH_MEMORY_MIN_MIB)
      throw new InputError(
        `Invalid ${input} for a VCH: each ${input === 'instance-memory' ? 'instance' : 'container'} is a VM there, with at least ${VCH_MEMORY_MIN_MIB} MiB. Give '${VCH_MEMORY_MIN_MIB}m' or more.`,
      )
    resources.Memory = mib * MIB
  }
  // A VM has whole vCPUs: a fraction rounds up, so an instance never gets less than was asked.
  if (cpus) resources.CPUCount = Math.ceil(cpus)
  return resources
}

// What each instance gets, for the log: a VCH rounds what it was given.
export function describeResources(resources: InstanceResources, host: Pick<HostProfile, 'instanceSize'>): string | undefined {
  const parts = [
    resources.Memory ? `${resources.Memory / MIB} MiB` : '',
    resources.NanoCpus ? `${resources.NanoCpus / 1e9} CPU(s)` : '',
    resources.CPUCount ? `${resources.CPUCount} vCPU(s)` : '',
  ].filter(Boolean)
  if (parts.length === 0) return undefined
  return host.instanceSize === 'containerVM'
    ? `Each instance is a containerVM with ${parts.join(' and ')}`
    : `Each instance is limited to ${parts.join(' and ')}`
}
