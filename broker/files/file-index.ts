import type { GroupCommit, LevelDatabase } from '../storage/index.js'
import { KeyedLock } from '../storage/index.js'
import { LevelJson, prefixRange } from '../storage/index.js'

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
  /**
   * The `file` messages that shared it, as `{conv} {from} {cid}` (none of
   * them holds a space): when the last of them is recalled the file goes.
   * Absent on files stored before shares were counted: those are never
   * removed, since what shared them is not known.
   */
  readonly refs?: string[]
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

  /**
   * Note that the file was shared in `conv` by the message `ref` (`{conv}
   * {from} {cid}`, see FileMeta.refs). Written before that message is
   * stored: a share whose message never was only keeps the file longer.
   */
  async share (fileId: string, conv: string, ref: string): Promise<void> {
    await this.#lock.run(`f!${fileId}`, async () => {
      const meta = await this.get(fileId)
      if (meta === undefined) return
      const convs = meta.convs.includes(conv) ? meta.convs : [...meta.convs, conv]
      const refs = meta.refs === undefined || meta.refs.includes(ref) ? meta.refs : [...meta.refs, ref]
      if (convs === meta.convs && refs === meta.refs) return
      await this.#store.write([this.#store.put(`f!${fileId}`, { ...meta, convs, ...(refs === undefined ? {} : { refs }) })])
    })
  }

  /**
   * The message `ref` no longer shares the file (it was recalled): a
   * conversation where no other message shares it loses it, and a file no
   * message shares any more is forgotten and no longer counts toward its
   * owner's quota. Resolves with the forgotten file (its blob is the
   * caller's to remove), else undefined.
   */
  async unshare (fileId: string, ref: string): Promise<FileMeta | undefined> {
    return await this.#lock.run(`f!${fileId}`, async () => {
      const meta = await this.get(fileId)
      if (meta?.refs?.includes(ref) !== true) return undefined
      const refs = meta.refs.filter((r) => r !== ref)
      if (refs.length > 0) {
        const convs = meta.convs.filter((conv) => refs.some((r) => r.startsWith(`${conv} `)))
        await this.#store.write([this.#store.put(`f!${fileId}`, { ...meta, convs, refs })])
        return undefined
      }
      await this.#lock.run(`q!${meta.owner}`, async () => {
        const used = await this.used(meta.owner)
        await this.#store.write([this.#store.del(`f!${fileId}`), this.#store.put(`q!${meta.owner}`, Math.max(0, used - meta.size))])
      })
      return meta
    })
  }

  /** Whether any file has the content `sha256` (a scan: for the rare removal of a blob). */
  async hasContent (sha256: string): Promise<boolean> {
    for await (const [, meta] of this.#store.entries<FileMeta>(prefixRange('f!'))) {
      if (meta.sha256 === sha256) return true
    }
    return false
  }

  async close (): Promise<void> {
    await this.#lock.idle()
  }
}
