import { createHash } from 'node:crypto'
import { createReadStream, type ReadStream } from 'node:fs'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/**
 * The content-addressed blobs under `<dataDir>/files/`: `ab/cdef…` by
 * sha256. A blob appears only by rename of a complete, fsynced file whose
 * size and hash were checked, so a crash never leaves a partial blob visible.
 */
export class BlobDir {
  readonly root: string

  constructor (root: string) {
    this.root = root
  }

  pathOf (sha256: string): string {
    return join(this.root, sha256.slice(0, 2), sha256.slice(2))
  }

  async has (sha256: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(sha256))).isFile()
    } catch {
      return false
    }
  }

  /** Move a verified, fsynced temp file into place (or drop it when the blob exists already). */
  async adopt (tmpPath: string, sha256: string): Promise<void> {
    const target = this.pathOf(sha256)
    if (await this.has(sha256)) {
      await rm(tmpPath, { force: true })
      return
    }
    await mkdir(dirname(target), { recursive: true })
    await rename(tmpPath, target)
    await fsyncDir(dirname(target))
  }

  /** Remove a blob (a download already reading it finishes). */
  async remove (sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true })
    await fsyncDir(dirname(this.pathOf(sha256)))
  }

  read (sha256: string, range?: { start: number, end: number }): ReadStream {
    return createReadStream(this.pathOf(sha256), range)
  }
}

/** sha256 hex and size of a file, read as a stream. */
export async function hashFile (path: string): Promise<{ sha256: string, size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), size }
}

/** Write `data` to `path` so that it is either absent or complete: temp file, fsync, rename, fsync the directory. */
export async function writeAtomic (path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp`
  const handle = await open(tmp, 'w')
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
  await fsyncDir(dirname(path))
}

/** A rename is durable only once its directory is synced. */
export async function fsyncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
