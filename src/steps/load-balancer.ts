import type { ServerStatus } from '../haproxy/stats'

// Where the deployment's service is reached once traffic has moved.
export interface ServiceAddress {
  ip: string
  port: number
  url: string
}

// Traffic has moved: the serving instances' statuses, and where the service is reached.
export interface Switched {
  statuses: ServerStatus[]
  address: ServiceAddress
}

// A new load-balancer's start, queued with the deploy's container starts (steps/start.ts
// startQueue) in two parts that the instances' queue puts apart: created and given its
// configuration, then started.
export interface Start {
  create(): Promise<void>
  start(): Promise<void>
}

// What the deploy's steps (deploy.ts, steps/, services/start.ts) need from the load-balancer in
// front of the deployment, in their order. The deploy chooses the implementation once: today the
// deployment's own load-balancer (own-load-balancer.ts). Instances, companion services, the
// release command and the removal of old instances are the steps' own, whichever it is.
export interface LoadBalancer {
  // Companion services' phase, when some are to be checked: what starts first in the services'
  // queue (a new load-balancer, which must see them to check them), then the wait until they
  // accept connections as the load-balancer checks them (a kept one loads them first).
  startWithServices(): Start | undefined
  waitForServices(): Promise<void>
  // Instances' phase: what starts with the instances (a new load-balancer the services' phase did
  // not start), and what is prepared meanwhile, off the critical path (a kept load-balancer's
  // reloads, checked).
  startWithInstances(): Start | undefined
  prepareSwitch(): Promise<void>
  // Networks each new instance joins besides the deployment's, before it starts (a VCH connects no
  // running container): where a load-balancer that is not on the deployment's network reaches it.
  readonly instanceNetworks: string[]
  // Once every instance has started: traffic moves to the plan's serving instances; returns once
  // they serve through the load-balancer, with their statuses and where the service is reached.
  switchTraffic(): Promise<Switched>
  // Retiring, once traffic has moved: first what the load-balancer leaves (a replaced one), later,
  // before the old instances go, the wait until it no longer sends them requests.
  removeReplaced(): Promise<void>
  drain(): Promise<void>
  // The undo of a failed or cancelled run: before what the run created is removed, the
  // load-balancer serves as before (only warns); after, what the run stopped serves again.
  // Returns what could not be started again, for the undo's warning.
  restorePrevious(): Promise<void>
  startReplacedAgain(): Promise<string[]>
  // For the deploy's result: the container that serves, and its configuration without secrets.
  readonly container: string
  configWithoutSecrets(): string
}
