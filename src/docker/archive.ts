import * as path from 'node:path'
import type Docker from 'dockerode'
import * as tar from 'tar-stream'

// The Docker API copies files into and out of containers as tar archives (what `docker cp` does).
// Both work on a created and on a running container, on a VCH too.

export interface FileOwner {
  uid: number
  gid: number
}

// Default 0644 owned by root: the official HAProxy image runs as a non-root user that must be
// able to read it. A private file (mode 0400) is given to the one user that reads it.
export async function putFile(
  container: Docker.Container,
  dir: string,
  name: string,
  content: string,
  { mode = 0o644, owner = { uid: 0, gid: 0 } }: { mode?: number; owner?: FileOwner } = {},
): Promise<void> {
  const pack = tar.pack()
  pack.entry({ name, mode, uid: owner.uid, gid: owner.gid, mtime: new Date() }, content)
  pack.finalize()
  await container.putArchive(await collect(pack as unknown as AsyncIterable<Buffer>), { path: dir })
}

// Whether the container has this path. A put alone does not tell: Podman creates a missing
// directory where dockerd and a VCH refuse the put.
export async function hasPath(container: Docker.Container, path: string): Promise<boolean> {
  try {
    // Read to the end (a directory of a few files): the host then closes the archive as usual.
    for await (const _chunk of (await container.getArchive({ path })) as unknown as AsyncIterable<Buffer>);
    return true
  } catch (error) {
    if (isMissingPath(error)) return false
    throw error
  }
}

// Whether an archive read says the path is not there: a 404, or Podman 4.3's 500 "no such file or
// directory", which it answers when the file is replaced while it reads it (a lease renewed while a
// waiting run reads it: seen 6 times in a minute of reads against a renewal every 0.3 s).
function isMissingPath(error: unknown): boolean {
  const { statusCode, message } = error as { statusCode?: number; message?: string }
  const said = String(message)
  return statusCode === 404 || (statusCode === 500 && /no such file or directory/i.test(said) && !/no such container/i.test(said))
}

// The file's text, or undefined when the container does not have it.
export async function getFile(container: Docker.Container, filePath: string): Promise<string | undefined> {
  const files = await readArchive(container, filePath)
  return files?.values().next().value
}

// The text of each file directly in the directory, by name (none when the container has no such
// directory): one archive for what would take one request per file, each of which costs a
// dockerd 20.10 about 75 ms.
export async function getFiles(container: Docker.Container, dir: string): Promise<Map<string, string>> {
  const files = await readArchive(container, dir)
  const inside = `${path.posix.basename(dir)}/`
  const byName = new Map<string, string>()
  for (const [entry, content] of files ?? []) {
    const name = entry.startsWith(inside) ? entry.slice(inside.length) : ''
    if (name && !name.includes('/')) byName.set(name, content)
  }
  return byName
}

// The text of every regular file in an archive of the path, by its name in the archive.
async function readArchive(container: Docker.Container, archivedPath: string): Promise<Map<string, string> | undefined> {
  let archive: NodeJS.ReadableStream
  try {
    archive = await container.getArchive({ path: archivedPath })
  } catch (error) {
    if (isMissingPath(error)) return undefined
    throw error
  }
  const extract = tar.extract()
  const files = new Map<string, string>()
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = []
      stream.on('data', (chunk) => chunks.push(chunk as Buffer))
      stream.on('end', () => {
        if (header.type === 'file') files.set(header.name, Buffer.concat(chunks).toString('utf8'))
        next()
      })
    })
    extract.on('finish', resolve)
    extract.on('error', reject)
  })
  archive.pipe(extract)
  await done
  return files
}

// The user and group the container's main process runs as (its User, else root), by number, as
// the container's own /etc/passwd and /etc/group say: `haproxy` in the official image is uid 99.
export async function processOwner(container: Docker.Container): Promise<FileOwner> {
  const { Config, Name } = await container.inspect()
  const [user = '', group] = (Config.User ?? '').split(':')
  if (user === '' && !group) return { uid: 0, gid: 0 }
  const numeric = (id: string): boolean => /^[0-9]+$/.test(id)
  const account = (await entriesOf(container, '/etc/passwd')).find((f) => (numeric(user) ? f[2] === user : f[0] === (user || 'root')))
  const uid = numeric(user) ? Number(user) : user === '' ? 0 : Number(account?.[2] ?? NaN)
  const gid = !group
    ? Number(account?.[3] ?? uid)
    : numeric(group)
      ? Number(group)
      : Number((await entriesOf(container, '/etc/group')).find((f) => f[0] === group)?.[2] ?? NaN)
  if (!Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error(`Container ${Name.replace(/^\//, '')} runs as '${Config.User}', which its /etc/passwd or /etc/group does not define.`)
  return { uid, gid }
}

async function entriesOf(container: Docker.Container, file: string): Promise<string[][]> {
  return ((await getFile(container, file)) ?? '').split('\n').map((line) => line.split(':'))
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}
