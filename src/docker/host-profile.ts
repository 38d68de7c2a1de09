// Everything the action does differently per Docker-API host, in one place. Three hosts speak the
// same Engine API with different behaviour: Docker Engine (dockerd), Podman (`podman system
// service`, an independent implementation of the API) and a vSphere Integrated Containers host
// (VCH: every container is a VM). The rest of the action asks this profile and never the host's
// kind. Measured on dockerd 20.10, Podman 4.3.1 and the VIC 1.5.8 sources (docs: vic.md, podman.md).
//
// Name lookups differ too, and need no setting: HAProxy resolves the instances through whatever
// each container's resolv.conf names (dockerd's 127.0.0.11, Podman's aardvark-dns at the network
// gateway, the VCH's resolver on its bridge). Podman's can stall for tens of seconds right after
// containers start, so a candidate configuration is checked without lookups on every host
// (renderConfigToCheck in haproxy/config.ts). Likewise Podman creates a missing directory on a
// put where the others refuse it, so the load-balancer's image is asked for its configuration
// directory on every host (hasPath in docker/archive.ts).

export type HostKind = 'docker' | 'podman' | 'vch'

// What the host answers to GET /version and GET /info, as far as telling hosts apart needs.
export interface VersionAnswer {
  ApiVersion?: string
  Version?: string
  Components?: { Name?: string; Version?: string }[]
}

export interface InfoAnswer {
  ID?: string
  Driver?: string
}

export type RestartPolicy = { Name: 'unless-stopped' } | { Name: 'on-failure'; MaximumRetryCount: number }

export interface HostProfile {
  kind: HostKind
  // How the logs name the host, e.g. "Podman 4.3.1".
  name: string
  // How many containers start at once (one bounded queue, see steps/start.ts).
  startsAtOnce: number
  // Given at create, so it costs no call of its own; a container that crashes at start is still
  // reported with its exit code as soon as the host shows it restarting or exited (failIfExited in
  // steps/switch.ts). None where the host ignores restart policies: HAProxy's health checks take a
  // crashed instance out of rotation, and the next deploy replaces it.
  restartPolicy?: RestartPolicy
  // The `status=` values of GET /containers/json that mean "stopped", among those the host accepts
  // and matches: an exited instance fails the deploy at once.
  stoppedStatuses: string[]
  // The HTTP status of a create whose name is taken (the deployment lock relies on it).
  nameClashStatus: 409 | 500
  // Whether a non-root process in a container may bind a port below 1024.
  unprivilegedLowPorts: boolean
  // What instance-memory and instance-cpus size (resources.ts): the container's cgroup limits, or
  // the containerVM itself (Memory in MiB steps, whole vCPUs from CPUCount).
  instanceSize: 'cgroup-limits' | 'containerVM'
  // The `ps_args` of GET /containers/{id}/top that list each process's PID, parent PID and command
  // name, where the host has that call: the drain after a reload watches the old HAProxy workers.
  processListArgs?: string
  // Where the host puts an image built or loaded on it, from no registry (Podman: localhost/). Podman
  // resolves a short name it has there to that name, so a pull of it can only ask a registry called
  // localhost, which it retries for about 3 s before it fails: such an image is not pulled.
  localImageNamespace?: string
  // How a companion service's volume is created (`docker volume create --driver --opt`). A VCH puts
  // volumes in a volume store of its own (vic-machine --volume-store); `default` is the store a
  // volume goes to unless told otherwise, and the one the action uses.
  volumeDriver: string
  volumeStore?: string
  // Said once per deploy, when the host needs explaining.
  note?: string
}

// dockerd has set net.ipv4.ip_unprivileged_port_start=0 in every container's network namespace
// since 20.10, which speaks Engine API 1.41.
const UNPRIVILEGED_LOW_PORTS_SINCE_API = '1.41'

export function detectHost(version: VersionAnswer, info: InfoAnswer): HostProfile {
  if (isVch(info))
    return {
      kind: 'vch',
      name: `vSphere Integrated Containers host (${info.Driver ?? info.ID})`,
      // A start boots a VM and takes seconds: many at once.
      startsAtOnce: 25,
      // Restart policies are ignored.
      // Accepts every Docker status but only ever matches created, running and exited.
      stoppedStatuses: ['exited'],
      nameClashStatus: 409,
      // A containerVM's kernel keeps the default 1024 and takes no sysctl or capability.
      unprivilegedLowPorts: false,
      instanceSize: 'containerVM',
      // `local` is an alias of `vsphere` there; either goes to the store named by VolumeStore.
      volumeDriver: 'vsphere',
      volumeStore: 'default',
      // No process list (top is not implemented).
      note: 'VCH: containers are created on one network each and connected to the instance network before they start; restart policies do not apply, HAProxy health checks do.',
    }
  const podman = version.Components?.find((c) => c.Name === 'Podman Engine')
  if (podman)
    return {
      kind: 'podman',
      name: `Podman ${podman.Version ?? version.Version ?? '?'}`,
      // Starts are CPU-bound as on dockerd (conmon, runc, netavark).
      startsAtOnce: 8,
      // A crash loop has no back-off on Podman, hence the bound: a container that crashes at start
      // ends up exited after a few quick restarts, and is reported then.
      restartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 },
      // `dead` and `restarting` are refused with a 500.
      stoppedStatuses: ['exited'],
      // "the container name ... is already in use".
      nameClashStatus: 500,
      // Containers keep the kernel default of 1024.
      unprivilegedLowPorts: false,
      instanceSize: 'cgroup-limits',
      volumeDriver: 'local',
      // psgo's descriptors: `-o pid,ppid,comm` or no ps_args at all answer 200 with an empty body.
      processListArgs: 'pid,ppid,comm',
      localImageNamespace: 'localhost/',
      note: 'Podman: containers restart on failure at most 5 times, since Podman restarts a crashing container without waiting.',
    }
  return {
    kind: 'docker',
    name: `Docker Engine ${version.Version ?? '?'}`,
    // Starts are CPU-bound here (N=50 on 2 cores: 8 or 4 at once about 10 s, 25 at once 12.4 s).
    startsAtOnce: 8,
    // dockerd waits longer before each restart and shows the container as `restarting` meanwhile.
    restartPolicy: { Name: 'unless-stopped' },
    stoppedStatuses: ['exited', 'dead', 'restarting'],
    nameClashStatus: 409,
    unprivilegedLowPorts: compareApi(String(version.ApiVersion ?? '0.0'), UNPRIVILEGED_LOW_PORTS_SINCE_API) >= 0,
    instanceSize: 'cgroup-limits',
    volumeDriver: 'local',
    // Options of the host's `ps`.
    processListArgs: '-o pid,ppid,comm',
  }
}

function isVch(info: InfoAnswer): boolean {
  return [info.ID, info.Driver].some((field) => String(field ?? '').startsWith('vSphere Integrated Containers'))
}

// A create refused because the name is taken (as opposed to any other failure).
export function isNameClash(host: HostProfile, error: unknown): boolean {
  const { statusCode, json, message } = error as { statusCode?: number; json?: { message?: string }; message?: string }
  if (statusCode !== host.nameClashStatus) return false
  return statusCode === 409 || /already in use/i.test(json?.message ?? message ?? '')
}

// The user the load-balancer container runs as: the image's own (uid 99 in the official image)
// unless HAProxy must bind a port below 1024 on a host that does not let a non-root process do
// so. Then its master starts as root, binds, and its workers drop to the image's `haproxy` user
// (see dropsPrivileges in haproxy/config.ts); the master stays root so that a reload can bind.
export function lbUser(host: HostProfile, listenPort: number): 'root' | undefined {
  return listenPort < 1024 && !host.unprivilegedLowPorts ? 'root' : undefined
}

export function compareApi(a: string, b: string): number {
  const [aMajor, aMinor] = a.split('.').map(Number)
  const [bMajor, bMinor] = b.split('.').map(Number)
  return aMajor - bMajor || aMinor - bMinor
}
