import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Level } from 'level'
import { DataDirBusyError, StoreError } from '../errors.js'
import { GroupCommit } from '../storage/index.js'
import { LevelUserStore } from '../users/level-user-store.js'
import { TokenService } from '../users/tokens.js'
import { runAdminOp, type AdminOp } from './admin-ops.js'

export interface OfflineAdminOptions {
  /** Create the data directory (0700) and database if missing, as `hail user add` before the first start does. */
  create?: boolean
}

/**
 * Run an admin op on a data directory that no server has open: open its
 * database, run the op with the same store and token code a server uses, and
 * close it, every write synced. Throws DataDirBusyError when another process
 * holds the directory (then ask that process, over its admin socket), and
 * StoreError when it cannot be opened, or does not exist and `create` is off.
 */
export async function runOfflineAdminOp (dataDir: string, op: AdminOp, args: unknown, options: OfflineAdminOptions = {}): Promise<unknown> {
  const dir = resolve(dataDir)
  const create = options.create ?? false
  if (create) await mkdir(dir, { recursive: true, mode: 0o700 })
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer', createIfMissing: create })
  try {
    await db.open()
  } catch (err) {
    const cause = String((err as Error).cause ?? err)
    if (/lock/i.test(cause)) throw new DataDirBusyError(`data directory ${dir} is in use by another process`, { cause: err })
    if (/does not exist|no such file/i.test(cause)) throw new StoreError(`no data directory at ${dir} (add a user first, or check --data)`, { cause: err })
    throw new StoreError(`cannot open data directory ${dir}: ${(err as Error).message}`, { cause: err })
  }
  const groupCommit = new GroupCommit(db)
  try {
    const users = LevelUserStore.inDatabase(db, { groupCommit })
    return await runAdminOp({ users, tokens: new TokenService(users) }, op, args)
  } finally {
    await groupCommit.flush()
    await db.close()
  }
}
