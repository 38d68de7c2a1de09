import { describe, expect, it } from 'vitest'
import { describeServer, isHealthy, parseStatsCsv, unhealthyServers, type ServerStatus } from '../src/haproxy/stats'

// The header and row layout of HAProxy 2.6's `show stat` / `<stats uri>;csv` export, as it was
// captured from a running 2.6.12. Rows are built from named fields so each test says what differs.
const HEADER =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,'
const COLUMNS = HEADER.slice(2).split(',')

// Real rows of that export (trailing commas included), for the proxies the stats CSV also lists.
const REAL_ROWS = [
  'stats,FRONTEND,,,1,1,9983,4,548,8740,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,1,0,1,,,,0,3,0,0,0,0,,1,1,4,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,1,1,4,4,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,4,4,548,8740,0,0,',
  'service,FRONTEND,,,0,0,9983,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,3,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,0,0,0,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,',
  'instances,web-1a2b3c4d-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,2,0,,1,4,1,,0,,2,0,,0,L4OK,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer4 check passed,,2,3,4,,,,172.18.0.3:80,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'instances,web-1a2b3c4d-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,2,2,,1,4,2,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,172.18.0.4:80,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'instances,web-1a2b3c4d-3,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,2,2,,1,4,3,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,172.18.0.5:80,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'instances,BACKEND,0,0,0,0,999,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,2,0,,1,4,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,1,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,',
  'candidates,web-5e6f7a8b-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/3,1,1,0,0,0,0,0,,1,5,1,,0,,2,0,,0,INI,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Initializing,,2,3,2,,,,172.18.0.6:80,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'candidates,web-5e6f7a8b-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,2,0,,1,5,2,,0,,2,0,,0,L7OK,200,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,3,4,,,,172.18.0.7:80,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'candidates,BACKEND,0,0,0,0,1,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,2,0,,1,5,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,1,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,',
]
const REAL_CSV = [HEADER, ...REAL_ROWS, '', ''].join('\n')

// A server row with the given fields, the rest empty.
function row(fields: Record<string, string>): string {
  return COLUMNS.map((c) => fields[c] ?? '').join(',')
}

function status(s: string, checkStatus: string, server = 'web-1'): ServerStatus {
  return { backend: 'instances', server, status: s, checkStatus }
}

describe('parseStatsCsv', () => {
  it('the sample rows have as many cells as the header has columns', () => {
    for (const r of REAL_ROWS) expect(r.split(',')).toHaveLength(COLUMNS.length)
  })

  it('reads every server of every backend of a real HAProxy 2.6 export, skipping FRONTEND and BACKEND rows', () => {
    expect(parseStatsCsv(REAL_CSV)).toEqual([
      { backend: 'instances', server: 'web-1a2b3c4d-1', status: 'UP', checkStatus: 'L4OK' },
      { backend: 'instances', server: 'web-1a2b3c4d-2', status: 'DOWN', checkStatus: 'L4CON' },
      { backend: 'instances', server: 'web-1a2b3c4d-3', status: 'MAINT', checkStatus: '' },
      { backend: 'candidates', server: 'web-5e6f7a8b-1', status: 'UP 1/3', checkStatus: 'INI' },
      { backend: 'candidates', server: 'web-5e6f7a8b-2', status: 'UP', checkStatus: 'L7OK' },
    ])
  })

  it('finds the columns by name, not by position', () => {
    const columns = ['check_status', 'svname', 'status', 'pxname']
    const csv = `# ${columns.join(',')}\nL6OK,srv-1,UP,tls\n`
    expect(parseStatsCsv(csv)).toEqual([{ backend: 'tls', server: 'srv-1', status: 'UP', checkStatus: 'L6OK' }])
  })

  it('is not confused by a quoted free-text field holding commas (they come after the columns it reads)', () => {
    const csv = `${HEADER}\n${row({ pxname: 'instances', svname: 'web-9', status: 'DOWN', check_status: 'L7STS', check_code: '503', last_chk: '"Service Unavailable, try again"', check_desc: 'Layer7 wrong status' })}\n`
    expect(parseStatsCsv(csv)).toEqual([{ backend: 'instances', server: 'web-9', status: 'DOWN', checkStatus: 'L7STS' }])
  })

  it('reads CRLF line ends', () => {
    const csv = [HEADER, row({ pxname: 'instances', svname: 'web-1', status: 'UP', check_status: 'L4OK' }), ''].join('\r\n')
    expect(parseStatsCsv(csv)).toEqual([{ backend: 'instances', server: 'web-1', status: 'UP', checkStatus: 'L4OK' }])
  })

  it('gives no servers for an export without server rows', () => {
    expect(parseStatsCsv(`${HEADER}\n${REAL_ROWS[0]}\n`)).toEqual([])
  })

  it.each([
    ['an empty body', ''],
    ['an HTML stats page', '<html><head><title>Statistics Report for HAProxy</title></head><body></body></html>'],
    ['an error page', '503 Service Unavailable\nNo server is available to handle this request.'],
    ['a header without the leading "# "', HEADER.slice(2)],
  ])('throws on %s', (_, text) => {
    expect(() => parseStatsCsv(text)).toThrow(/HAProxy stats CSV/)
  })

  it.each(['pxname', 'svname', 'status', 'check_status'])('throws naming a missing %s column', (column) => {
    const csv = `# ${COLUMNS.filter((c) => c !== column).join(',')}\n`
    expect(() => parseStatsCsv(csv)).toThrow(column)
  })
})

describe('isHealthy', () => {
  it.each([
    ['UP', 'L4OK'],
    ['UP', 'L6OK'],
    ['UP', 'L7OK'],
  ])('%s after %s: healthy', (s, check) => {
    expect(isHealthy(status(s, check))).toBe(true)
  })

  it.each([
    ['UP', 'INI', 'started UP but never checked'],
    ['UP', '', 'no check result'],
    ['UP 1/3', 'L4OK', 'going down'],
    ['UP 1/3', 'L4CON', 'going down'],
    ['DOWN', 'L4CON', 'down'],
    ['DOWN 1/2', 'L7OK', 'coming up, not yet risen'],
    ['DOWN', 'L7STS', 'wrong status'],
    ['MAINT', '', 'in maintenance'],
    ['MAINT (resolution)', '', 'name not resolved'],
    ['NOLB', 'L4OK', 'draining'],
    ['DRAIN', 'L4OK', 'draining'],
    ['UP', 'L4TOUT', 'timeout'],
    ['UP', 'L7OKC', 'conditionally ok'],
    ['no check', '', 'unchecked'],
  ])('%s after %j: not healthy (%s)', (s, check) => {
    expect(isHealthy(status(s, check))).toBe(false)
  })
})

describe('unhealthyServers', () => {
  const statuses = parseStatsCsv(REAL_CSV)

  it('lists the expected servers that are not healthy in the backend, in the order expected', () => {
    expect(unhealthyServers(statuses, 'instances', ['web-1a2b3c4d-3', 'web-1a2b3c4d-1', 'web-1a2b3c4d-2'])).toEqual(['web-1a2b3c4d-3', 'web-1a2b3c4d-2'])
  })

  it('counts a server the backend does not have yet as unhealthy', () => {
    expect(unhealthyServers(statuses, 'instances', ['web-1a2b3c4d-1', 'web-1a2b3c4d-9'])).toEqual(['web-1a2b3c4d-9'])
  })

  it('takes UP before the first check for admitted servers only, and never DOWN or unresolved ones', () => {
    const fresh = [
      status('UP', 'INI', 'web-a-1'),
      status('UP', '* INI', 'web-a-2'),
      status('UP 1/2', 'L4CON', 'web-a-3'),
      status('MAINT (resolution)', '', 'web-a-4'),
    ]
    const all = ['web-a-1', 'web-a-2', 'web-a-3', 'web-a-4']
    expect(unhealthyServers(fresh, 'instances', all)).toEqual(all)
    expect(unhealthyServers(fresh, 'instances', all, all)).toEqual(['web-a-3', 'web-a-4'])
    expect(unhealthyServers(fresh, 'instances', all, ['web-a-2'])).toEqual(['web-a-1', 'web-a-3', 'web-a-4'])
  })

  it('looks in the given backend only', () => {
    // Healthy in candidates, absent from instances.
    expect(unhealthyServers(statuses, 'candidates', ['web-5e6f7a8b-2'])).toEqual([])
    expect(unhealthyServers(statuses, 'instances', ['web-5e6f7a8b-2'])).toEqual(['web-5e6f7a8b-2'])
    expect(unhealthyServers(statuses, 'candidates', ['web-5e6f7a8b-1', 'web-5e6f7a8b-2'])).toEqual(['web-5e6f7a8b-1'])
  })

  it('is empty when nothing is expected', () => {
    expect(unhealthyServers(statuses, 'instances', [])).toEqual([])
  })
})

describe('describeServer', () => {
  const statuses = parseStatsCsv(REAL_CSV)

  it('gives the status and the last check', () => {
    const text = describeServer(statuses, 'instances', 'web-1a2b3c4d-2')
    expect(text).toContain('DOWN')
    expect(text).toContain('L4CON')
  })

  it('says when there was no check yet', () => {
    const text = describeServer(statuses, 'instances', 'web-1a2b3c4d-3')
    expect(text).toContain('MAINT')
    expect(text).toMatch(/none/)
  })

  it('says when the load-balancer does not know the server', () => {
    expect(describeServer(statuses, 'instances', 'web-nope-1')).toMatch(/not in the load-balancer/)
    expect(describeServer(statuses, 'instances', 'web-5e6f7a8b-1')).toMatch(/not in the load-balancer/)
  })
})
