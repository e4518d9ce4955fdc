import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Level } from 'level'
import { StoreError } from '../errors.js'
import { GroupCommit } from '../storage/index.js'
import { nodeId } from './node-id.js'

export interface DataDirOptions {
  /** Told of each synced batch: how many writes it carried and how long it took. */
  onBatch?: (count: number, seconds: number) => void
}

/**
 * A node's data directory: its one level database, the group commit every
 * store on it writes through (one fsync per batch, one write-ahead log),
 * and the node's lasting id. Every node has one; in Redis mode it holds
 * only the files' index and the node id.
 */
export class DataDir {
  readonly path: string
  readonly db: Level<string, Buffer>
  readonly groupCommit: GroupCommit
  readonly nodeId: string

  private constructor (path: string, db: Level<string, Buffer>, groupCommit: GroupCommit, id: string) {
    this.path = path
    this.db = db
    this.groupCommit = groupCommit
    this.nodeId = id
  }

  /** Creates the directory (0700: it holds password hashes and the token secret) and opens its database. */
  static async open (dir: string, options: DataDirOptions = {}): Promise<DataDir> {
    const path = resolve(dir)
    let db: Level<string, Buffer> | undefined
    try {
      await mkdir(path, { recursive: true, mode: 0o700 })
      db = new Level<string, Buffer>(path, { valueEncoding: 'buffer' })
      await db.open()
    } catch (err) {
      await db?.close().catch(() => {})
      const busy = /lock/i.test(String((err as Error).cause ?? err))
      throw new StoreError(busy
        ? `data directory ${path} is in use by another process`
        : `cannot open data directory ${path}: ${(err as Error).message}`, { cause: err })
    }
    try {
      const groupCommit = new GroupCommit(db, { onBatch: options.onBatch })
      return new DataDir(path, db, groupCommit, await nodeId(path))
    } catch (err) {
      await db.close().catch(() => {})
      throw err
    }
  }

  /** Waits for the writes issued so far, then closes the database. */
  async close (): Promise<void> {
    await this.groupCommit.flush()
    await this.db.close()
  }
}
