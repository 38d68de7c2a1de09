import { describe, expect, it } from 'vitest'
import { LABEL, deploymentLabels } from '../src/labels'
import { deploymentOf, deploymentState, listDeployment } from '../src/docker/state'
import { FakeHost } from './fake-docker-host'

describe('listDeployment and deploymentState', () => {
  it("reads one deployment's instances, load-balancer, services, networks and volumes from their labels", async () => {
    const host = new FakeHost()
    host.add({ name: 'web-lb', labels: deploymentLabels('web', 'lb', { [LABEL.lbSpec]: 'spec-1' }) })
    host.add({ name: 'web-abc-1', labels: deploymentLabels('web', 'instance', { [LABEL.generation]: 'abc', [LABEL.index]: '1', [LABEL.port]: '8080' }) })
    host.add({
      name: 'web-abc-2',
      running: false,
      labels: deploymentLabels('web', 'instance', { [LABEL.generation]: 'abc', [LABEL.index]: '2', [LABEL.port]: '8080' }),
    })
    host.add({ name: 'web-svc-db', labels: deploymentLabels('web', 'service', { [LABEL.service]: 'db', [LABEL.serviceSpec]: 's1' }) })
    await host.createVolume('web-svc-db-1234', 'local', {}, deploymentLabels('web', 'volume', { [LABEL.service]: 'db', [LABEL.volumePath]: '/data' }))
    await host.createVolume('webshop-svc-db-1234', 'local', {}, deploymentLabels('webshop', 'volume', { [LABEL.service]: 'db' }))
    host.add({ name: 'webshop-lb', labels: deploymentLabels('webshop', 'lb') })
    host.add({ name: 'unlabelled' })
    await host.createNetwork('web-net', deploymentLabels('web', 'network'))
    await host.createNetwork('webshop-net', deploymentLabels('webshop', 'network'))

    expect(deploymentState(await listDeployment(host, 'web'))).toEqual({
      lb: { id: 'id-web-lb', name: 'web-lb', running: true, spec: 'spec-1' },
      instances: [
        { id: 'id-web-abc-1', name: 'web-abc-1', running: true, generation: 'abc', index: 1, port: 8080 },
        { id: 'id-web-abc-2', name: 'web-abc-2', running: false, generation: 'abc', index: 2, port: 8080 },
      ],
      networks: [{ id: 'net-web-net', name: 'web-net' }],
      services: [{ id: 'id-web-svc-db', name: 'web-svc-db', running: true, service: 'db', spec: 's1' }],
      volumes: [{ name: 'web-svc-db-1234', service: 'db', path: '/data' }],
    })
  })
})

describe('deploymentOf', () => {
  it("names the deployment an object belongs to, '' for somebody else's, undefined for none", async () => {
    const host = new FakeHost()
    host.add({ name: 'web-lb', labels: deploymentLabels('web', 'lb') })
    host.add({ name: 'theirs' })
    await host.createNetwork('routable')
    expect(await deploymentOf(host, 'container', 'web-lb')).toBe('web')
    expect(await deploymentOf(host, 'container', 'theirs')).toBe('')
    expect(await deploymentOf(host, 'container', 'missing')).toBeUndefined()
    expect(await deploymentOf(host, 'network', 'routable')).toBe('')
    expect(await deploymentOf(host, 'network', 'missing')).toBeUndefined()
  })
})
