// What the pull request comment says. Pure: the same facts give the same text, so a re-run that
// changed nothing edits the comment only to move its time.

export interface InstanceState {
  name: string
  state: string
}

export interface DeployedEnvironment {
  deployment: string
  url: string
  image: string
  instances: InstanceState[]
  at: Date
  // Where the run that wrote the comment can be seen, if it ran in GitHub Actions.
  runUrl?: string
}

export interface RemovedEnvironment {
  deployment: string
  at: Date
  // Why it went: 'teardown', or prune's reason, e.g. 'its pull request is closed'.
  reason: string
  runUrl?: string
}

// The comment is found again by this line, which Markdown does not show.
export function commentMarker(deployment: string): string {
  return `<!-- vic-lb-action:deployment=${deployment} -->`
}

export function isCommentOf(body: string | null | undefined, deployment: string): boolean {
  return (body ?? '').includes(commentMarker(deployment))
}

export function renderDeployedComment(env: DeployedEnvironment): string {
  return [
    commentMarker(env.deployment),
    `### Preview environment \`${env.deployment}\``,
    '',
    `**URL:** ${env.url}  `,
    `**Image:** \`${env.image}\``,
    '',
    '| Instance | State behind the load-balancer |',
    '| --- | --- |',
    ...env.instances.map((i) => `| \`${i.name}\` | ${cell(i.state)} |`),
    '',
    `Deployed ${env.instances.length} instance(s), ${utc(env.at)}${by(env.runUrl)}.`,
  ].join('\n')
}

export function renderRemovedComment(env: RemovedEnvironment): string {
  return [
    commentMarker(env.deployment),
    `### Preview environment \`${env.deployment}\`: removed`,
    '',
    `Its containers and network were removed ${utc(env.at)}${by(env.runUrl)} (${env.reason}). Its URL no longer serves.`,
  ].join('\n')
}

// Written out in UTC, to the second: readers are in every time zone.
export function utc(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`
}

function by(runUrl: string | undefined): string {
  return runUrl ? ` by [this run](${runUrl})` : ''
}

// A table cell ends at the next '|'.
function cell(text: string): string {
  return text.replace(/\|/g, '\\|')
}
