import { describe, expect, it } from 'vitest'
import { parseLbLog } from '../bench/trace'

// Lines as HAProxy 2.6 (vic-lb-test/haproxy:2.6) wrote them under `docker logs -t` during a deploy.
const LOG = [
  "2026-12-01T15:11:49.578381845Z [WARNING]  (1) : config : [/usr/local/etc/haproxy/haproxy.cfg:51] : 'server instances/web-9' : could not resolve address 'web-9', disabling server.",
  '2026-12-01T15:11:49.680531615Z [WARNING]  (8) : instances/web-11 changed its IP from (none) to 192.168.192.12 by docker/127.0.0.11.',
  "2026-12-01T15:11:49.680539587Z [WARNING]  (8) : Server instances/web-11 ('web-11') is UP/READY (resolves again).",
  '2026-12-01T15:11:49.680551995Z instances/web-11 changed its IP from (none) to 192.168.192.12 by docker/127.0.0.11.',
  '2026-12-01T15:11:50.511193071Z [WARNING]  (8) : Server instances/web-11 is DOWN, reason: Layer4 timeout, check duration: 501ms. 9 active and 0 backup servers left.',
  '2026-12-01T15:11:50.722898137Z [WARNING]  (8) : instances/web-9 changed its IP from (none) to 192.168.192.14 by docker/127.0.0.11.',
  '2026-12-01T15:11:51.900000000Z [WARNING]  (8) : Server instances/web-11 is UP, reason: Layer4 check passed, check duration: 0ms. 10 active and 0 backup servers left.',
  '2026-12-01T15:11:51.900100000Z Server instances/web-11 is UP, reason: Layer4 check passed, check duration: 0ms. 10 active and 0 backup servers left.',
  '2026-12-01T15:11:52.000000000Z [WARNING]  (8) : candidates/web-12 changed its IP from (none) to 192.168.192.15 by docker/127.0.0.11.',
  '2026-12-01T15:11:52.100000000Z [WARNING]  (8) : Server candidates/web-12 is DOWN, reason: Layer4 timeout, check duration: 501ms.',
].join('\n')

describe('parseLbLog', () => {
  it('takes the first time each serving instance was resolved, and which went DOWN', () => {
    const events = parseLbLog(LOG)
    expect(events.resolved).toEqual(
      new Map([
        ['web-11', Date.parse('2026-12-01T15:11:49.680531615Z')],
        ['web-9', Date.parse('2026-12-01T15:11:50.722898137Z')],
      ]),
    )
    expect(events.wentDown).toEqual(new Set(['web-11']))
  })
})
