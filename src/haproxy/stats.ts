// HAProxy's own view of its servers, from the stats page's CSV export (`<stats uri>;csv`).

export interface ServerStatus {
  backend: string
  server: string
  // UP, DOWN, MAINT, "UP 1/3" while going down, "DOWN 1/2" while coming up, ...
  status: string
  // Result of the last health check: INI before the first one, L4OK/L6OK/L7OK when it passed.
  checkStatus: string
}

export function parseStatsCsv(csv: string): ServerStatus[] {
  const [header, ...rows] = csv.split('\n').filter((line) => line.trim() !== '')
  if (!header?.startsWith('# ')) throw new Error('not an HAProxy stats CSV export')
  const columns = header.slice(2).split(',')
  const at = (name: string): number => {
    const i = columns.indexOf(name)
    if (i < 0) throw new Error(`HAProxy stats CSV has no '${name}' column`)
    return i
  }
  const [backend, server, status, checkStatus] = [at('pxname'), at('svname'), at('status'), at('check_status')]
  return rows
    .map((row) => row.split(','))
    .filter((cells) => cells[server] !== 'FRONTEND' && cells[server] !== 'BACKEND')
    .map((cells) => ({ backend: cells[backend], server: cells[server], status: cells[status], checkStatus: cells[checkStatus] }))
}

// A server counts as healthy only once a health check has really passed: HAProxy starts servers
// as UP before it has checked them.
export function isHealthy(status: ServerStatus): boolean {
  return status.status === 'UP' && /^L\dOK$/.test(status.checkStatus)
}

// `admitted` servers passed their checks moments ago (as candidates, before a reload): UP before
// the new worker's first check is enough for them, as the worker sends them traffic meanwhile anyway.
export function unhealthyServers(statuses: ServerStatus[], backend: string, expected: string[], admitted: string[] = []): string[] {
  return expected.filter((name) => {
    const status = statuses.find((s) => s.backend === backend && s.server === name)
    return !status || !(isHealthy(status) || (admitted.includes(name) && status.status === 'UP' && /^(\* )?INI$/.test(status.checkStatus)))
  })
}

export function describeServer(statuses: ServerStatus[], backend: string, name: string): string {
  const status = statuses.find((s) => s.backend === backend && s.server === name)
  return status ? `${status.status} (last check: ${status.checkStatus || 'none'})` : 'not in the load-balancer yet'
}
