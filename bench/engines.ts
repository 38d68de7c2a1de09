// Part E of the deploy benchmark (deploy.ts): a redeploy to a new image on Debian trixie's Podman 5.4
// against the same on its Docker Engine 26.1 (scripts/setup-trixie-engines.sh), run after run.
// Each engine runs in a network namespace of its own, where it publishes the load-balancer's port,
// so the action runs in that namespace too (`ip netns exec`).
import { connectEngine } from '../src/docker/engine'
import { resolveTarget } from '../src/docker/target'
import { rendered, timed, type TimedRun } from './timing'

export const TRIXIE_ENGINES = {
  docker: { netns: 'vic-lb-trixie-docker', dockerHost: 'unix:///run/vic-lb-trixie-docker/docker.sock' },
  podman: { netns: 'vic-lb-trixie-podman', dockerHost: 'unix:///run/vic-lb-trixie-podman/podman.sock' },
} as const
export type TrixieEngine = keyof typeof TRIXIE_ENGINES

export interface EngineRun {
  node: string
  cli: string
  env: NodeJS.ProcessEnv
  // The deploy's arguments for a deployment named `prefix` of `image`, without --docker-host.
  deployArgs: (prefix: string, image: string) => string[]
}

// What the action says it connected to, e.g. "Podman 5.4.2, Engine API 1.41, using 1.41".
export async function engineDescription(engine: TrixieEngine): Promise<string> {
  const { dockerHost } = TRIXIE_ENGINES[engine]
  const connected = await connectEngine(resolveTarget(dockerHost, { verify: true }, {})).catch((error: Error) => {
    throw new Error(`trixie's ${engine} does not answer on ${dockerHost} (scripts/setup-trixie-engines.sh starts it): ${error.message}`)
  })
  return connected.description
}

// Deploys `images[0]` (untimed), then times the redeploy to `images[1]`, then tears it down.
export async function timeRedeploy(engine: TrixieEngine, prefix: string, images: [string, string], run: EngineRun): Promise<{ ms: number; run: TimedRun }> {
  const { netns, dockerHost } = TRIXIE_ENGINES[engine]
  const action = (args: string[]) => timed('ip', ['netns', 'exec', netns, run.node, run.cli, ...args, '--docker-host', dockerHost], { env: run.env })
  const checked = async (what: string, args: string[]): Promise<TimedRun> => {
    const done = await action(args)
    if (done.code !== 0) throw new Error(`${what} on trixie's ${engine} exited ${done.code}:\n${rendered(done.lines.slice(-20))}`)
    return done
  }
  try {
    await checked('the first deploy', run.deployArgs(prefix, images[0]))
    const redeploy = await checked('the redeploy', run.deployArgs(prefix, images[1]))
    return { ms: redeploy.ms, run: redeploy }
  } finally {
    const teardown = await action(['teardown', '--instance-prefix', prefix])
    if (teardown.code !== 0) console.error(`warning: teardown of ${prefix} on trixie's ${engine} exited ${teardown.code}: ${teardown.lines.at(-1)?.text}`)
  }
}
