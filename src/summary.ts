import * as core from '@actions/core'
import type { DeployResult } from './deploy'
import type { DeploySettings } from './inputs'
import { SERVING_BACKEND } from './haproxy/config'
import { describeServer } from './haproxy/stats'

// The job summary page of the run. Outside the Actions runner there is none to write.

export async function summarizeDeploy(deployment: string, settings: DeploySettings, result: DeployResult): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  await core.summary
    .addHeading(`Deployment ${deployment}`, 2)
    .addRaw(
      `Serving <a href="${result.url}">${result.url}</a> from ${result.instances.length} instance(s) of <code>${escape(settings.image)}</code>${result.changed ? '' : ' (unchanged)'}.`,
      true,
    )
    .addList([...describeInstances(settings), ...describeRelease(settings, result)])
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

// The instances' settings, with the names of the variables only: env values may be sensitive
// too, and secret-env values are never shown.
function describeInstances({ instanceConfig: c, pull, certificate }: DeploySettings): string[] {
  const names = (vars: { key: string }[]): string => (vars.length > 0 ? vars.map((v) => `<code>${v.key}</code>`).join(', ') : 'none')
  return [
    `Environment variables: ${names(c.env)}; secret: ${names(c.secretEnv)}`,
    `Command: ${c.command ? `<code>${escape(JSON.stringify(c.command))}</code>` : "the image's"}`,
    `Memory: ${c.memoryBytes ? `${Math.round(c.memoryBytes / 1024 ** 2)} MiB` : "the host's default"}; CPUs: ${c.cpus ?? "the host's default"}`,
    `Images pulled: ${pull}`,
    `HTTPS: ${certificate ? 'yes, with lb-certificate' : 'no'}`,
  ]
}

// Not run: the generation already served when this run began (release/run.ts releaseNeeded).
function describeRelease({ releaseCommand }: DeploySettings, { release }: DeployResult): string[] {
  if (!releaseCommand) return []
  return [
    `Release command <code>${escape(JSON.stringify(releaseCommand))}</code>: ${release ? `ran in ${release.seconds} s` : 'not run, this generation already served'}`,
  ]
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
