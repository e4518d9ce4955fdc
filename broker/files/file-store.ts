import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import { ImError } from '../errors.js'
import { KeyedLock } from '../storage/index.js'
import { BlobDir, fsyncDir, writeAtomic } from './blob-dir.js'
import type { FileIndex, FileMeta } from './file-index.js'

export interface FileLimits {
  readonly maxFileBytes: number
  readonly quotaBytesPerUser: number
  readonly chunkBytes: number
}

export interface FileDescription {
  readonly name: string
  readonly size: number
  readonly type: string
  readonly sha256: string
}

/** An MQTT upload in progress, kept as `uploads/<uploadId>/state.json`. */
interface UploadState extends FileDescription {
  readonly owner: string
  readonly chunkBytes: number
}

export interface UploadStatus {
  readonly uploadId: string
  readonly chunkBytes: number
  readonly chunks: number
  /** Indexes of the chunks already stored. */
  readonly have: number[]
}

const UPLOAD_ID = /^[0-9a-f]{32}$/
const STATE = 'state.json'

/**
 * Files: uploads in progress under `<root>/uploads/<uploadId>/` (one file
 * per chunk, each written to a temp name, fsynced and renamed, so a chunk is
 * there whole or not at all), finished files content-addressed in BlobDir,
 * metadata and quota in the FileIndex. An upload id is derived from owner,
 * hash and size, so starting the same file again, after a disconnect or a
 * crash, resumes it.
 */
export class FileStore {
  readonly blobs: BlobDir
  readonly index: FileIndex
  readonly limits: FileLimits
  readonly #uploads: string
  readonly #lock = new KeyedLock()

  constructor (root: string, index: FileIndex, limits: FileLimits) {
    this.blobs = new BlobDir(root)
    this.index = index
    this.limits = limits
    this.#uploads = join(root, 'uploads')
  }

  async open (): Promise<void> {
    await mkdir(this.#uploads, { recursive: true })
    // HTTP uploads do not resume: what a crash left of them is garbage.
    for (const entry of await readdir(this.#uploads)) {
      if (entry.startsWith('http-')) await rm(join(this.#uploads, entry), { recursive: true, force: true })
    }
  }

  /** Start (or resume) an MQTT upload. */
  async start (owner: string, file: FileDescription): Promise<UploadStatus> {
    await this.#checkLimits(owner, file.size)
    const uploadId = createHash('sha256').update(`${owner}\n${file.sha256}\n${file.size}`).digest('hex').slice(0, 32)
    return await this.#lock.run(uploadId, async () => {
      const dir = join(this.#uploads, uploadId)
      let state = await this.#state(uploadId)
      if (state === undefined) {
        state = { owner, name: file.name, size: file.size, type: file.type, sha256: file.sha256, chunkBytes: this.limits.chunkBytes }
        await mkdir(dir, { recursive: true })
        await writeAtomic(join(dir, STATE), JSON.stringify(state))
        await fsyncDir(this.#uploads)
      }
      return await this.#status(uploadId, state)
    })
  }

  async status (owner: string, uploadId: string): Promise<UploadStatus> {
    return await this.#lock.run(uploadId, async () => await this.#status(uploadId, await this.#own(owner, uploadId)))
  }

  /** Store one chunk durably (resolves once it is on disk). */
  async chunk (owner: string, uploadId: string, index: number, data: Buffer): Promise<void> {
    const state = await this.#own(owner, uploadId)
    const chunks = chunkCount(state)
    if (!Number.isInteger(index) || index < 0 || index >= chunks) {
      throw new ImError('HAIL_ERR_BAD_REQUEST', `chunk ${index} is out of range: upload ${uploadId} has chunks 0-${chunks - 1}`)
    }
    const expected = index === chunks - 1 ? state.size - index * state.chunkBytes : state.chunkBytes
    if (data.length !== expected) {
      throw new ImError('HAIL_ERR_BAD_REQUEST', `chunk ${index} of upload ${uploadId} has ${data.length} bytes, expected ${expected}`)
    }
    const dir = join(this.#uploads, uploadId)
    const tmp = join(dir, `${index}.${randomBytes(4).toString('hex')}.part`)
    // The upload may have finished or been discarded meanwhile: its directory is gone.
    const handle = await open(tmp, 'w').catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new ImError('HAIL_ERR_NOT_FOUND', `no upload ${uploadId}`) : err
    })
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await this.#lock.run(uploadId, async () => {
      if (await this.#state(uploadId) === undefined) {
        await rm(tmp, { force: true })
        throw new ImError('HAIL_ERR_NOT_FOUND', `no upload ${uploadId}`)
      }
      await rename(tmp, join(dir, String(index)))
      await fsyncDir(dir)
    })
  }

  /**
   * Check size and hash of the assembled chunks and store the file. A hash
   * mismatch, or a quota hit, ends the upload: nothing of it is left.
   */
  async finish (owner: string, uploadId: string): Promise<FileMeta> {
    return await this.#lock.run(uploadId, async () => {
      const state = await this.#own(owner, uploadId)
      const status = await this.#status(uploadId, state)
      if (status.have.length !== status.chunks) {
        const missing = [...Array(status.chunks).keys()].filter((i) => !status.have.includes(i))
        throw new ImError('HAIL_ERR_BAD_REQUEST', `upload ${uploadId} is missing chunks ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`)
      }
      const dir = join(this.#uploads, uploadId)
      const assembled = join(dir, 'assembled.tmp')
      try {
        const out = createWriteStream(assembled)
        const hash = createHash('sha256')
        let size = 0
        await pipeline(async function * () {
          for (let i = 0; i < status.chunks; i++) {
            for await (const piece of createReadStream(join(dir, String(i)))) {
              hash.update(piece as Buffer)
              size += (piece as Buffer).length
              yield piece as Buffer
            }
          }
        }, out)
        const sha256 = hash.digest('hex')
        if (size !== state.size || sha256 !== state.sha256) {
          throw new ImError('HAIL_ERR_FILE_HASH', `the upload's sha256 is ${sha256} (${size} bytes), not ${state.sha256} (${state.size} bytes): upload discarded`)
        }
        const meta = await this.#commit(assembled, { ...state, owner })
        await rm(dir, { recursive: true, force: true })
        return meta
      } catch (err) {
        // A refusal ends the upload; a store failure keeps the chunks for another try.
        if (err instanceof ImError) await rm(dir, { recursive: true, force: true })
        else await rm(assembled, { force: true })
        throw err
      } finally {
        if (!(await this.#exists(dir))) await fsyncDir(this.#uploads).catch(() => {})
      }
    })
  }

  /** An HTTP upload: the body streamed to a temp file, hashed on the way, then stored. */
  async upload (owner: string, body: Readable, file: { name: string, type: string, length?: number }): Promise<FileMeta> {
    if (file.length !== undefined) await this.#checkLimits(owner, file.length)
    const dir = join(this.#uploads, `http-${randomBytes(12).toString('hex')}`)
    await mkdir(dir, { recursive: true })
    const tmp = join(dir, 'body.tmp')
    const max = this.limits.maxFileBytes
    try {
      const hash = createHash('sha256')
      let size = 0
      await pipeline(body, async function * (source: AsyncIterable<Buffer>) {
        for await (const piece of source) {
          size += piece.length
          if (size > max) throw new ImError('HAIL_ERR_TOO_LARGE', `the file is over the limit of ${max} bytes`)
          hash.update(piece)
          yield piece
        }
      }, createWriteStream(tmp))
      await this.#checkLimits(owner, size)
      return await this.#commit(tmp, { owner, name: file.name, type: file.type, size, sha256: hash.digest('hex') })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  /**
   * The message `ref` (`{conv} {from} {cid}`) that shared `fileId` was
   * recalled: the file goes when no other message shares it, and its
   * content when no other file has it. Resolves with whether the file went.
   */
  async unshare (fileId: string, ref: string): Promise<boolean> {
    const gone = await this.index.unshare(fileId, ref)
    if (gone === undefined) return false
    await this.#lock.run(`blob!${gone.sha256}`, async () => {
      if (!await this.index.hasContent(gone.sha256)) await this.blobs.remove(gone.sha256)
    })
    return true
  }

  async close (): Promise<void> {
    await this.#lock.idle()
    await this.index.close()
  }

  async #commit (tmp: string, file: FileDescription & { owner: string }): Promise<FileMeta> {
    const handle = await open(tmp, 'r+')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
    // one lock with unshare(): a blob is never removed between its adoption and its file's record
    return await this.#lock.run(`blob!${file.sha256}`, async () => await this.#record(tmp, file))
  }

  async #record (tmp: string, file: FileDescription & { owner: string }): Promise<FileMeta> {
    await this.blobs.adopt(tmp, file.sha256)
    const meta: FileMeta = {
      fileId: `f${randomBytes(12).toString('hex')}`,
      sha256: file.sha256,
      size: file.size,
      name: file.name,
      type: file.type,
      owner: file.owner,
      convs: [],
      createdAt: Date.now(),
      refs: []
    }
    if (!await this.index.add(meta, this.limits.quotaBytesPerUser)) throw quotaError(this.limits.quotaBytesPerUser)
    // On a quota refusal the blob stays: another file may share it, and one that nothing references is never served.
    return meta
  }

  async #checkLimits (owner: string, size: number): Promise<void> {
    if (size > this.limits.maxFileBytes) {
      throw new ImError('HAIL_ERR_TOO_LARGE', `a file of ${size} bytes is over the limit of ${this.limits.maxFileBytes}`)
    }
    if (await this.index.used(owner) + size > this.limits.quotaBytesPerUser) throw quotaError(this.limits.quotaBytesPerUser)
  }

  async #own (owner: string, uploadId: string): Promise<UploadState> {
    const state = UPLOAD_ID.test(uploadId) ? await this.#state(uploadId) : undefined
    if (state === undefined || state.owner !== owner) throw new ImError('HAIL_ERR_NOT_FOUND', `no upload ${uploadId}`)
    return state
  }

  async #state (uploadId: string): Promise<UploadState | undefined> {
    try {
      return JSON.parse(await readFile(join(this.#uploads, uploadId, STATE), 'utf8')) as UploadState
    } catch {
      return undefined
    }
  }

  async #status (uploadId: string, state: UploadState): Promise<UploadStatus> {
    const chunks = chunkCount(state)
    const have = (await readdir(join(this.#uploads, uploadId)))
      .filter((name) => /^\d+$/.test(name)).map(Number).filter((i) => i < chunks).sort((a, b) => a - b)
    return { uploadId, chunkBytes: state.chunkBytes, chunks, have }
  }

  async #exists (path: string): Promise<boolean> {
    try {
      await readdir(path)
      return true
    } catch {
      return false
    }
  }
}

function chunkCount (state: UploadState): number {
  return Math.max(1, Math.ceil(state.size / state.chunkBytes))
}

function quotaError (quota: number): ImError {
  return new ImError('HAIL_ERR_QUOTA', `storing this file would take you over your quota of ${quota} bytes`)
}
