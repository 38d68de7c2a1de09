import { afterAll, describe, expect, it } from 'vitest'
import { IMAGES, LABEL_DEPLOYMENT, distinctAnswers, docker, explain, localInputs, objectsOf, removeDeployment, runAction, uniquePrefix, sleep } from './harness'

// Two repositories deploying to one Docker host, each from its own workflow (GITHUB_REPOSITORY):
// the same deployment name never lets one take over or remove the other's preview, and a prune in
// one repository leaves the other's deployments alone.

const LABEL_OWNER = 'io.github.vic-lb-action.owner'
const LABEL_CREATED = 'io.github.vic-lb-action.created'
const LABEL_ROLE = 'io.github.vic-lb-action.role'
const ONE = { GITHUB_REPOSITORY: 'acme/one' }
const TWO = { GITHUB_REPOSITORY: 'acme/two' }

const base = uniquePrefix('owner')
const shared = `${base}-pr-42`
const theirs = `${base}-pr-7`
const legacy = `${base}-legacy`
const adopted = `${base}-adopted`
afterAll(() => [shared, theirs, legacy, adopted].forEach(removeDeployment))

// Every container and network of the deployment with its ID: what "untouched" compares.
function idsOf(prefix: string): string[] {
  const filter = `label=${LABEL_DEPLOYMENT}=${prefix}`
  const containers = docker('ps', '-a', '--filter', filter, '--format', '{{.ID}} {{.Names}} {{.State}}')
  const networks = docker('network', 'ls', '--filter', filter, '--format', '{{.ID}} {{.Name}}')
  return [...containers.split('\n'), ...networks.split('\n')].filter(Boolean).sort()
}

function ownerLabelsOf(prefix: string): string[] {
  const filter = `label=${LABEL_DEPLOYMENT}=${prefix}`
  const format = `{{index .Labels "${LABEL_OWNER}"}}`
  const containers = docker('ps', '-a', '--filter', filter, '--format', `{{.Label "${LABEL_OWNER}"}}`)
  const networks = docker('network', 'ls', '-q', '--filter', filter)
    .split('\n')
    .filter(Boolean)
    .map((id) => docker('network', 'inspect', '-f', format, id))
  return [...containers.split('\n'), ...networks].sort()
}

describe('two repositories on one Docker host', () => {
  it("refuses a deploy and a teardown of the other repository's deployment of the same name, changing nothing", async () => {
    const inputs = await localInputs(shared, { instances: '2' })
    const first = await runAction(inputs, ONE)
    expect(first.code, explain(first)).toBe(0)
    expect(ownerLabelsOf(shared)).toEqual(['acme/one', 'acme/one', 'acme/one', 'acme/one'])
    const before = idsOf(shared)

    const second = await runAction({ ...inputs, image: IMAGES.web2 }, TWO)
    expect(second.code, explain(second)).toBe(1)
    expect(second.stdout).toContain(
      `::error::Deployment '${shared}' on the Docker host belongs to acme/one, and this deploy is for acme/two. Nothing was changed. Two repositories cannot share a deployment name: choose an instance-prefix and lb-name for acme/two that include its repository name, e.g. 'two-${shared}' and 'two-${shared}-lb'.`,
    )
    // Refused before pulling or taking the lock.
    expect(second.stdout).not.toContain('Pull images')
    expect(idsOf(shared)).toEqual(before)
    expect((await distinctAnswers(first.outputs.url, 10)).size).toBe(2)

    const teardown = await runAction({ command: 'teardown', 'instance-prefix': shared, 'haproxy-image': IMAGES.haproxy }, TWO)
    expect(teardown.code, explain(teardown)).toBe(1)
    expect(teardown.stdout).toContain(
      `::error::Deployment '${shared}' on the Docker host belongs to acme/one, and this teardown is for acme/two. Nothing was removed.`,
    )
    expect(idsOf(shared)).toEqual(before)
    expect((await distinctAnswers(first.outputs.url, 10)).size).toBe(2)
  })

  it("prunes only the calling repository's deployments, and one from before owner labels by age", async () => {
    const other = await runAction(await localInputs(theirs, { instances: '1' }), TWO)
    expect(other.code, explain(other)).toBe(0)
    const theirIds = idsOf(theirs)
    // As an earlier version left it: labelled with the deployment, not with an owner.
    docker(
      'create',
      '--name',
      `${legacy}-lb`,
      '--label',
      `${LABEL_DEPLOYMENT}=${legacy}`,
      '--label',
      `${LABEL_ROLE}=lb`,
      '--label',
      `${LABEL_CREATED}=2000-01-01T00:00:00.000Z`,
      IMAGES.web1,
    )
    await sleep(2_000)

    // Matches all three, and all are older than max-age.
    const run = await runAction({ command: 'prune', 'instance-prefix': `${base}-*`, 'max-age': '1s', 'haproxy-image': IMAGES.haproxy }, ONE)
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toMatch(new RegExp(`Deployments matching '${base}-\\*': 2; 1 of other owners and \\d+ other\\(s\\) on the Docker host left alone\\.`))
    expect(objectsOf(shared)).toEqual([])
    expect(objectsOf(legacy)).toEqual([])
    expect(idsOf(theirs)).toEqual(theirIds)
    expect((await distinctAnswers(other.outputs.url, 5)).size).toBe(1)
  })

  it('adopts a deployment from before owner labels, with a notice, and labels what it creates', async () => {
    // The instance network an earlier version created, labelled with the deployment only.
    docker('network', 'create', '--label', `${LABEL_DEPLOYMENT}=${adopted}`, `${adopted}-net`)
    const run = await runAction(await localInputs(adopted, { instances: '1' }), TWO)
    expect(run.code, explain(run)).toBe(0)
    expect(run.stdout).toContain(
      `Deployment '${adopted}' has no owner label (an earlier version of vic-lb-action created it): acme/two adopts it, and the objects this run creates record acme/two as their owner.`,
    )
    expect(ownerLabelsOf(adopted)).toEqual(['', 'acme/two', 'acme/two'])

    // Now it is acme/two's.
    const refused = await runAction(await localInputs(adopted, { instances: '1' }), ONE)
    expect(refused.code, explain(refused)).toBe(1)
    expect(refused.stdout).toContain(`belongs to acme/two, and this deploy is for acme/one`)
  })
})
