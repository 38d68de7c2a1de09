import type Docker from 'dockerode'
import type { FileOwner } from './archive'

// The one seam between a deploy's steps (src/steps) and the Docker host, as actions/checkout's
// IGitCommandManager sits between its steps and git: the steps say what they need in their own
// terms, containers and networks by ID or name, and the unit tests stand in for the host here.
// Types only: dockerode-host.ts implements it.

// The body of POST /containers/create, as the steps build it.
export type ContainerSpec = Docker.ContainerCreateOptions & { name: string }

// The part of GET /containers/{id}/json the steps read.
export interface ContainerDetails {
  Id: string
  Name: string
  // When the Docker host created it (RFC 3339).
  Created: string
  Config: { User?: string; Env?: string[]; Labels?: Record<string, string> }
  State: { Status: string; Running: boolean; Restarting: boolean; ExitCode: number }
  NetworkSettings: { Networks: Record<string, { IPAddress?: string } | undefined>; Ports?: Record<string, { HostPort: string }[] | null | undefined> }
}

// One entry of GET /containers/json.
export interface ContainerSummary {
  id: string
  name: string
  running: boolean
  labels: Record<string, string>
  // Docker's own creation time: prune's fallback for an object whose created label is unreadable.
  created: Date
}

// One entry of GET /networks.
export interface NetworkSummary {
  id: string
  name: string
  labels: Record<string, string>
  created: Date
}

// One entry of GET /volumes (a volume has no ID: its name is its handle).
export interface VolumeSummary {
  name: string
  labels: Record<string, string>
}

// GET /containers/{id}/top
export interface ProcessList {
  Titles?: string[]
  Processes?: string[][]
}

export interface DockerHost {
  createNetwork(name: string, labels: Record<string, string>): Promise<string>
  // Returns the new container's ID.
  createContainer(spec: ContainerSpec): Promise<string>
  connect(network: string, container: string): Promise<void>
  // Already running counts as started, already stopped as stopped (304).
  start(container: string): Promise<void>
  stop(container: string, timeoutS: number): Promise<void>
  rename(container: string, name: string): Promise<void>
  inspect(container: string): Promise<ContainerDetails>
  // Containers and networks carrying all of these labels (`key=value`, or `key` with any value), in any state.
  listContainers(labels: string[]): Promise<ContainerSummary[]>
  listNetworks(labels: string[]): Promise<NetworkSummary[]>
  listVolumes(labels: string[]): Promise<VolumeSummary[]>
  // A named volume of that driver (its options as `docker volume create --opt`); returns its name.
  createVolume(name: string, driver: string, options: Record<string, string>, labels: Record<string, string>): Promise<string>
  // The volume stores a VCH offers (GET /info: SystemStatus "VolumeStores"); undefined elsewhere.
  volumeStores(): Promise<string[] | undefined>
  // The deployment's containers in one of these states, by ID and name.
  listStopped(deployment: string, statuses: string[]): Promise<{ id: string; name: string }[]>
  // The labels of the container or network of that name or ID, undefined when there is none.
  labelsOf(kind: 'container' | 'network', name: string): Promise<Record<string, string> | undefined>
  // How many CPUs the host reports (GET /info NCPU).
  cpuCount(): Promise<number | undefined>
  recentLogs(container: string, lines?: number): Promise<string>
  // Until the container has stopped: its exit code. The signal ends the wait, not the container.
  wait(container: string, signal?: AbortSignal): Promise<number>
  // Containers first, then networks and volumes (by name); returns what could not be removed, with why.
  remove(containers: string[], networks: string[], volumes?: string[]): Promise<string[]>
  getFile(container: string, path: string): Promise<string | undefined>
  // The files directly in the directory, by name; empty when there is no such directory.
  getFiles(container: string, dir: string): Promise<Map<string, string>>
  putFile(container: string, dir: string, name: string, content: string, options?: { mode?: number; owner?: FileOwner }): Promise<void>
  hasPath(container: string, path: string): Promise<boolean>
  processOwner(container: string): Promise<FileOwner>
  exec(container: string, cmd: string[], user: string): Promise<{ exitCode: number | null; output: string }>
  signal(container: string, signal: string): Promise<void>
  processes(container: string, psArgs: string): Promise<ProcessList>
  // Force-removes one container by ID; false when it was already gone (404).
  removeContainer(container: string): Promise<boolean>
  // The ID of the image of that reference on the host, undefined when the host lacks it.
  imageId(reference: string): Promise<string | undefined>
  // The ID of any one image on the host, undefined on a host without images.
  anyImageId(): Promise<string | undefined>
  // Pulls an image, reporting each progress status; a refusal inside the progress stream rejects.
  // The registry auth is the X-Registry-Auth header value. Cancelled by the signal.
  pull(reference: string, registryAuth: string | undefined, onStatus: (status: string) => void, signal?: AbortSignal): Promise<void>
}
