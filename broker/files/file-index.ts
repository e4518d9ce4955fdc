import type { GroupCommit, LevelDatabase } from '../storage/index.js'
import { KeyedLock } from '../storage/index.js'
import { LevelJson } from '../storage/index.js'

/** What the server knows of one stored file. */
export interface FileMeta {
  readonly fileId: string
  readonly sha256: string
  readonly size: number
  readonly name: string
  readonly type: string
  readonly owner: string
  /** Conversations where a `file` message referenced it: their members may download it. */
  readonly convs: string[]
  readonly createdAt: number
}

// Keys: f!{fileId} -> FileMeta; q!{user} -> bytes the user owns.
/** File metadata on a sublevel of the server's database, written synced through its group commit. */
export class FileIndex {
  readonly #store: LevelJson
  readonly #lock = new KeyedLock()

  constructor (db: LevelDatabase, groupCommit: GroupCommit) {
    this.#store = new LevelJson(db, groupCommit, 'file index')
  }

  async get (fileId: string): Promise<FileMeta | undefined> {
    return await this.#store.get<FileMeta>(`f!${fileId}`)
  }

  async used (user: string): Promise<number> {
    return (await this.#store.get<number>(`q!${user}`)) ?? 0
  }

  /**
   * Record a new file, unless it would take its owner over `quota` bytes:
   * then nothing is written and false comes back.
   */
  async add (meta: FileMeta, quota: number): Promise<boolean> {
    return await this.#lock.run(`q!${meta.owner}`, async () => {
      const used = await this.used(meta.owner)
      if (used + meta.size > quota) return false
      await this.#store.write([this.#store.put(`f!${meta.fileId}`, meta), this.#store.put(`q!${meta.owner}`, used + meta.size)])
      return true
    })
  }

  /** Note that the file was shared in `conv`. */
  async share (fileId: string, conv: string): Promise<void> {
    await this.#lock.run(`f!${fileId}`, async () => {
      const meta = await this.get(fileId)
      if (meta === undefined || meta.convs.includes(conv)) return
      await this.#store.write([this.#store.put(`f!${fileId}`, { ...meta, convs: [...meta.convs, conv] })])
    })
  }

  async close (): Promise<void> {
    await this.#lock.idle()
  }
}
