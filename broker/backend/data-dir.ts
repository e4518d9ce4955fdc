import type { Level } from 'level'
import { DataDirBusyError, StoreError } from '../errors.js'
import { openLevelDir, type DataSeal } from '../integrity/index.js'
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
  readonly #seal: DataSeal

  private constructor (path: string, db: Level<string, Buffer>, groupCommit: GroupCommit, id: string, seal: DataSeal) {
    this.path = path
    this.db = db
    this.groupCommit = groupCommit
    this.nodeId = id
    this.#seal = seal
  }

  /**
   * Creates the directory (0700: it holds password hashes and the token
   * secret) and opens its database, checked first (integrity/): a damaged
   * one is refused with DataDirDamagedError.
   */
  static async open (dir: string, options: DataDirOptions = {}): Promise<DataDir> {
    const { path, db, seal } = await openLevelDir(dir, { create: true }).catch((err: unknown) => {
      // documented as HAIL_ERR_STORE for listen()
      throw err instanceof DataDirBusyError ? new StoreError(err.message, { cause: err }) : err
    })
    try {
      const groupCommit = new GroupCommit(db, { onBatch: options.onBatch, seal })
      return new DataDir(path, db, groupCommit, await nodeId(path), seal)
    } catch (err) {
      await db.close().catch(() => {})
      throw err
    }
  }

  /** Waits for the writes issued so far, marks the seal, then closes the database. */
  async close (): Promise<void> {
    await this.groupCommit.flush()
    await this.#seal.close()
    await this.db.close()
  }
}
