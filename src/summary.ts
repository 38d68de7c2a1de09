import * as core from '@actions/core'
import type { DeployResult } from './deploy'
import { SERVING_BACKEND } from './haproxy/config'
import { describeServer } from './haproxy/stats'

// The job summary page of the run. Outside the Actions runner there is none to write.

export async function summarizeDeploy(deployment: string, image: string, result: DeployResult): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  await core.summary
    .addHeading(`Deployment ${deployment}`, 2)
    .addRaw(`Serving <a href="${result.url}">${result.url}</a> from ${result.instances.length} instance(s) of <code>${escape(image)}</code>${result.changed ? '' : ' (unchanged)'}.`, true)
    .addTable([
      [
        { data: 'Instance', header: true },
        { data: 'State behind the load-balancer', header: true },
      ],
      ...result.instances.map((name) => [name, describeServer(result.statuses, SERVING_BACKEND, name)]),
    ])
    .addDetails('HAProxy configuration', `<pre>${escape(result.config)}</pre>`)
    .write()
}

export async function summarizeTeardown(deployment: string, removed: string[]): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  const text = removed.length > 0 ? `Removed ${removed.map((n) => `<code>${n}</code>`).join(', ')}.` : 'Nothing was left to remove.'
  await core.summary.addHeading(`Deployment ${deployment} torn down`, 2).addRaw(text, true).write()
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
