import type Docker from 'dockerode'
import { limited } from '../src/docker/containers'

// The engine's floor for a deployment of N instances: one user-defined bridge, then N instances
// and a load-balancer container created and started through the Engine API, `concurrency` at a
// time, with the action's own client and queue. Nothing else: no pulls, no configuration in the
// load-balancer (its HAProxy exits for want of one, after its start has returned), no checks.
// No deploy of N instances behind a load-balancer can take less on this engine.

export interface FloorOptions {
  name: string // prefix of everything it creates
  instances: number
  concurrency: number
  webImage: string
  haproxyImage: string
}

export async function timeFloor(docker: Docker, opts: FloorOptions): Promise<number> {
  const start = performance.now()
  const network = `${opts.name}-net`
  await docker.createNetwork({ Name: network, Driver: 'bridge', CheckDuplicate: true })
  const onNetwork = { HostConfig: { NetworkMode: network }, NetworkingConfig: { EndpointsConfig: { [network]: {} } } }
  const lb: Docker.ContainerCreateOptions = {
    name: `${opts.name}-lb`,
    Image: opts.haproxyImage,
    ExposedPorts: { '8080/tcp': {}, '8404/tcp': {} },
    ...onNetwork,
    // Published like the action's load-balancer: the port mapping is part of its start.
    HostConfig: { ...onNetwork.HostConfig, PortBindings: { '8080/tcp': [{ HostPort: '' }], '8404/tcp': [{ HostPort: '' }] } },
  }
  const instances = Array.from({ length: opts.instances }, (_, i): Docker.ContainerCreateOptions => ({
    name: `${opts.name}-${i + 1}`,
    Image: opts.webImage,
    ...onNetwork,
  }))
  await limited(
    [lb, ...instances],
    async (spec) => {
      const container = await docker.createContainer(spec)
      await container.start()
    },
    opts.concurrency,
  )
  return performance.now() - start
}
