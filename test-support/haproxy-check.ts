import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

// `haproxy -c` of the HAProxy branches the tests hold the generated configuration to: Debian
// bookworm's 2.6 and trixie's 3.0, from the roots scripts/debian-rootfs.sh makes. Neither is
// optional: a missing binary fails the tests that use it.
export const HAPROXY_VERSIONS = [
  { version: '2.6', command: path.resolve(__dirname, '../scripts/haproxy-2.6') },
  { version: '3.0', command: path.resolve(__dirname, '../scripts/haproxy-3.0') },
] as const

// The load-balancer's timeouts with the inputs' defaults (response-timeout, tunnel-timeout, drain-timeout).
export const DEFAULT_TIMEOUTS = { response: 60, tunnel: 3600, drain: 30 }

export type HaproxyVersion = (typeof HAPROXY_VERSIONS)[number]

export interface CheckResult {
  ok: boolean
  output: string
  // Every line in which HAProxy warns about or refuses something in the configuration.
  complaints: string[]
}

// The first line of `haproxy -v`, e.g. "HAProxy version 3.0.11-1+deb13u4 2026/10/15 - ...".
export function haproxyVersionLine(haproxy: HaproxyVersion): string {
  const result = spawnSync(haproxy.command, ['-v'], { encoding: 'utf8', timeout: 30_000 })
  if (result.error) throw new Error(`Could not run ${haproxy.command} -v: ${result.error.message}`)
  return `${result.stdout}${result.stderr}`.split('\n')[0]
}

const SERVER_ADDRESS = /^\s*server\s+\S+\s+([^\s:]+):\d+/gm

// `haproxy -c -V` of a file as the load-balancer sees it in its container: each server's name
// resolves (Docker's DNS does that in the deployment's network; here a hosts file, bind-mounted
// over /etc/hosts in a mount namespace of the check's own, so no DNS query leaves the machine), the
// resolvers' nameserver is Docker's 127.0.0.11, and the users are the image's (root, and haproxy
// with uid 99). Whatever HAProxy still warns about is then the configuration's own fault. unshare
// and mount need root, as CI and scripts/setup.sh have.
export function haproxyCheck(haproxy: HaproxyVersion, file: string): CheckResult {
  const names = new Set([...fs.readFileSync(file, 'utf8').matchAll(SERVER_ADDRESS)].map((m) => m[1]))
  const overlays: Record<string, string> = {
    '/etc/hosts': ['127.0.0.1 localhost', ...[...names].map((name) => `10.0.0.2 ${name}`), ''].join('\n'),
    '/etc/resolv.conf': 'nameserver 127.0.0.11\n',
    '/etc/passwd': 'root:x:0:0:root:/root:/sbin/nologin\nhaproxy:x:99:99:haproxy:/var/lib/haproxy:/sbin/nologin\n',
    '/etc/group': 'root:x:0:\nhaproxy:x:99:\n',
  }
  const mounts = Object.entries(overlays).map(([target, text]) => {
    const source = `${file}.${path.basename(target)}`
    fs.writeFileSync(source, text)
    return `mount --bind ${source} ${target}`
  })
  const result = spawnSync('unshare', ['--mount', '--', 'sh', '-c', `${mounts.join(' && ')} && exec "$@"`, 'sh', haproxy.command, '-c', '-V', '-f', file], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (result.error || /^(unshare|mount|sh): /m.test(result.stderr))
    throw new Error(`Could not run haproxy -c in a mount namespace (unshare --mount, needs root): ${result.error?.message ?? result.stderr}`)
  const output = `${result.stdout}${result.stderr}`
  const complaints = output.split('\n').filter((line) => /\[(WARNING|ALERT)\]|\[NOTICE\].*: config :|Warnings were found/.test(line))
  return { ok: result.status === 0 && /Configuration file is valid/.test(output) && complaints.length === 0, output, complaints }
}
