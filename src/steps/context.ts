import type { DockerHost } from '../docker/deploy-host'
import type { HostProfile } from '../docker/host-profile'
import type { DeploySettings } from '../inputs'
import { THIS_RUN } from '../labels'
import type { DeployPlan } from '../plan'
import type { waitUntilListening, waitUntilServing } from '../readiness'
import type { ServicesPlan } from '../services/plan'
import { rememberDeploy, type UnsettledDeploy } from '../state-helper'

// What every step of one deploy works with: the Docker host through its one interface, the
// settings and plan, and the record of what the run changed.
export interface StepContext {
  host: DockerHost
  profile: HostProfile
  // Where a load-balancer on the Docker host's own network is reached (DockerTarget.publishedHost).
  publishedHost: string
  settings: DeploySettings
  plan: DeployPlan
  services: ServicesPlan
  netName: string
  deadline: number
  signal?: AbortSignal
  record: UndoRecord
  // readiness.ts in a deploy; a stand-in in unit tests, which poll no HTTP.
  waitUntilServing: typeof waitUntilServing
  waitUntilListening: typeof waitUntilListening
}

// One deploy's changes to the Docker host, remembered so that a failure takes back exactly
// what this run created and puts the load-balancer's previous configuration back.
export class UndoRecord {
  changed = false
  createdContainers: string[] = []
  createdNetworks: string[] = []
  createdVolumes: string[] = []
  // Companion services' containers this run stopped and put aside to replace them (by ID, with
  // the name they ran under): started again by the undo, removed once traffic has moved.
  replacedServices: { id: string; name: string }[] = []
  // What a kept load-balancer had before this run changed it, for the undo (in memory only).
  previousConfig?: { lb: string; text: string; certificate?: string }
  replacedLb?: { id: string; name: string }
  // The kept load-balancer's HAProxy workers from before the final reload, which may still send
  // requests to the instances that leave (undefined where the host cannot list them).
  drain?: { lb: string; oldWorkers?: Set<string> }
  // What the post step must take back should this process be killed (state-helper.ts).
  private unsettled: UnsettledDeploy

  constructor(
    settings: DeploySettings,
    private keep: (deploy: UnsettledDeploy | undefined) => void = rememberDeploy,
  ) {
    this.unsettled = { deployment: settings.instancePrefix, lbName: settings.lbName, run: THIS_RUN }
  }

  remember(change: Partial<UnsettledDeploy>): void {
    this.unsettled = { ...this.unsettled, ...change }
    this.keep(this.unsettled)
  }

  // Traffic has moved, or the undo is done: nothing is left for the post step.
  settled(): void {
    this.keep(undefined)
  }
}
