import type Docker from 'dockerode'
import * as tar from 'tar-stream'

// The Docker API copies files into and out of containers as tar archives (what `docker cp` does).
// Both work on a created and on a running container, on a VCH too.

export async function putFile(container: Docker.Container, dir: string, name: string, content: string): Promise<void> {
  const pack = tar.pack()
  // 0644: the official HAProxy image runs as a non-root user that must be able to read it.
  pack.entry({ name, mode: 0o644, mtime: new Date() }, content)
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
    if ((error as { statusCode?: number }).statusCode === 404) return false
    throw error
  }
}

// The file's text, or undefined when the container does not have it.
export async function getFile(container: Docker.Container, filePath: string): Promise<string | undefined> {
  let archive: NodeJS.ReadableStream
  try {
    archive = await container.getArchive({ path: filePath })
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined
    throw error
  }
  const extract = tar.extract()
  let content: string | undefined
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = []
      stream.on('data', (chunk) => chunks.push(chunk as Buffer))
      stream.on('end', () => {
        if (header.type === 'file' && content === undefined) content = Buffer.concat(chunks).toString('utf8')
        next()
      })
    })
    extract.on('finish', resolve)
    extract.on('error', reject)
  })
  archive.pipe(extract)
  await done
  return content
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}
