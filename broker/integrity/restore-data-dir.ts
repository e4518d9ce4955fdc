import { copyFile, mkdir, readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Level } from 'level'
import { BackupError } from '../errors.js'
import { copyStoredFiles, readBackup, type BackupReport } from './backup-data-dir.js'
import { checkLevelDir, listLevelFiles } from './check-level-dir.js'
import { DataSeal } from './data-seal.js'
import { levelLockHeld } from './lock-holder.js'
import { COUNTED_STORES, countStores, type StoreCounts } from './store-counts.js'

export interface RestoreReport {
  /** The backup's description, as taken. */
  backup: BackupReport
  /** The data directory restored into. */
  dir: string
  /** Per store, read back from the restored database: the same as the backup's, or the restore fails. */
  stores: StoreCounts
  files: number
}

/**
 * `hail restore DIR`: puts a backup (backupDataDir) into a data directory
 * that holds no database and no stored files, with no daemon running on it.
 * The backup's database is verified (checkLevelDir) and copied file by file,
 * its stored files copied, and the restored database read back: its counts
 * per store must match the backup's description, or BackupError says which
 * differ. The seal's mark is set to the backup's last batch, so the daemon
 * starts on it.
 */
export async function restoreDataDir (backupDir: string, dataDir: string): Promise<RestoreReport> {
  const from = resolve(backupDir)
  const dir = resolve(dataDir)
  const backup = await readBackup(from)
  const check = await checkLevelDir(join(from, 'db'))
  if (check.empty || check.damage.length > 0) {
    throw new BackupError(`the backup in ${from} is damaged: ${check.damage[0]?.file ?? 'db'}: ${check.damage[0]?.what ?? 'no database'}`)
  }
  if (await levelLockHeld(dir)) throw new BackupError(`data directory ${dir} is in use by another process: stop the daemon, and restore into an empty directory`)
  const present = await listLevelFiles(dir)
  if (present.current || present.manifests.length + present.logs.size + present.tables.size > 0) {
    throw new BackupError(`will not restore into ${dir}: it holds a database; move it away (or restore into a new directory)`)
  }
  const stored = await readdir(join(dir, 'files'), { recursive: true, withFileTypes: true }).catch(() => [])
  if (stored.some((entry) => entry.isFile())) throw new BackupError(`will not restore into ${dir}: it holds stored files (${join(dir, 'files')})`)

  await mkdir(dir, { recursive: true, mode: 0o700 })
  const files = await listLevelFiles(join(from, 'db'))
  for (const name of ['CURRENT', ...files.manifests, ...files.logs.values(), ...files.tables.values()]) {
    await copyFile(join(from, 'db', name), join(dir, name))
  }
  const copied = await copyStoredFiles(join(from, 'files'), join(dir, 'files'))

  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer', createIfMissing: false })
  await db.open()
  let stores: StoreCounts
  try {
    stores = await countStores(db)
    const differ = COUNTED_STORES.map(([name]) => name).filter((name) => stores.counts[name] !== backup.stores.counts[name])
    if (stores.error !== undefined || differ.length > 0 || copied !== backup.files) {
      const what = stores.error ?? (differ.length > 0
        ? differ.map((name) => `${name} ${stores.counts[name]} of ${backup.stores.counts[name]}`).join(', ')
        : `${copied} stored files of ${backup.files}`)
      throw new BackupError(`the restored data directory ${dir} does not match the backup: ${what}`)
    }
    await DataSeal.accept(db, dir)
  } finally {
    await db.close()
  }
  return { backup, dir, stores, files: copied }
}
