import { randomBytes } from 'node:crypto'
import type { Credentials } from './basic-auth'

// The stats page lists every instance's name, address and state, and it is reachable wherever the
// load-balancer is (the routable network of a VCH, a published port). It needs credentials that
// only the action knows: generated per load-balancer, kept nowhere but inside its configuration,
// and read back from there by the next run through the Docker API.

export type StatsAuth = Credentials

const STATS_USER = 'vic-lb'
const AUTH_LINE = /^\s*stats auth ([^:\s]+):(\S+)\s*$/m

// Hex: no character that HAProxy's config parser or HTTP Basic auth would read specially.
export function newStatsAuth(): StatsAuth {
  return { user: STATS_USER, password: randomBytes(24).toString('hex') }
}

export function statsAuthLine(auth: StatsAuth): string {
  return `stats auth ${auth.user}:${auth.password}`
}

// The credentials a configuration holds, undefined when it has none (a load-balancer made by an
// earlier version of the action).
export function statsAuthIn(config: string): StatsAuth | undefined {
  const match = AUTH_LINE.exec(config)
  return match ? { user: match[1], password: match[2] } : undefined
}

// The configuration as it may be shown (the job summary): everything but the password.
export function withoutStatsPassword(config: string): string {
  return config.replace(AUTH_LINE, (line) => line.replace(/:(\S+)\s*$/, ':(generated, kept only in the load-balancer)'))
}
