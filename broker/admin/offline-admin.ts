import { backupDataDir, openLevelDir } from '../integrity/index.js'
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
 * holds the directory (then ask that process, over its admin socket),
 * DataDirDamagedError when its database is damaged (integrity/), and
 * StoreError when it cannot be opened, or does not exist and `create` is off.
 */
export async function runOfflineAdminOp (dataDir: string, op: AdminOp, args: unknown, options: OfflineAdminOptions = {}): Promise<unknown> {
  const { db, seal } = await openLevelDir(dataDir, { create: options.create ?? false })
  const groupCommit = new GroupCommit(db, { seal })
  try {
    const users = LevelUserStore.inDatabase(db, { groupCommit })
    return await runAdminOp({ users, tokens: new TokenService(users), backup: async (to) => await backupDataDir(db, dataDir, to) }, op, args)
  } finally {
    await groupCommit.flush()
    await seal.close()
    await db.close()
  }
}
