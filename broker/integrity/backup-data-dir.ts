import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Level } from 'level'
import { BackupError } from '../errors.js'
import type { LevelDatabase } from '../storage/index.js'
import { heldBy, type SealState } from './data-seal.js'
import { countStores, type StoreCounts } from './store-counts.js'

/** The description a backup keeps beside its database, and `hail backup` reports. */
export interface BackupReport {
  format: 1
  /** Where the backup is. */
  dir: string
  /** The data directory it was taken from. */
  source: string
  /** ISO 8601. */
  created: string
  /** The last sealed write batch in it. */
  seal: SealState
  /** Per store, as read back from the backup's own database. */
  stores: StoreCounts
  /** Stored files copied (uploads in progress are not). */
  files: number
}

export const BACKUP_FILE = 'hail-backup.json'

/** Entries per batch written to the backup's database. */
const CHUNK = 1000

/**
 * A consistent copy of a data directory's database and stored files into
 * `target` (new, or an empty directory): every entry as one LevelDB
 * snapshot saw it, so a daemon may keep writing meanwhile (its admin socket
 * runs this on its own open database, `hail backup`), into a database of
 * the backup's own (`target/db`), then the stored files (`target/files`,
 * content-addressed and written before their index entry, so each file the
 * snapshot names is there). The backup's database is read back and counted
 * per store for the report, kept as `target/hail-backup.json`, written last:
 * a backup without it is unfinished.
 */
export async function backupDataDir (db: LevelDatabase, source: string, target: string): Promise<BackupReport> {
  const dir = resolve(target)
  await requireEmpty(dir, 'back up into')
  await mkdir(join(dir, 'db'), { recursive: true, mode: 0o700 })
  const out = new Level<Buffer, Buffer>(join(dir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await out.open()
  const snapshot = db.snapshot()
  try {
    const iterator = db.iterator({ snapshot, keyEncoding: 'buffer', valueEncoding: 'buffer' })
    try {
      for (;;) {
        const entries = await iterator.nextv(CHUNK) as Array<[Buffer, Buffer]>
        if (entries.length === 0) break
        await out.batch(entries.map(([key, value]) => ({ type: 'put' as const, key, value })))
      }
    } finally {
      await iterator.close()
    }
  } finally {
    await snapshot.close()
  }
  let report: BackupReport
  try {
    // one synced write makes everything before it durable (the log is written in order)
    await out.put(Buffer.from('hail-backup-done'), Buffer.alloc(0), { sync: true } as object)
    await out.del(Buffer.from('hail-backup-done'), { sync: true } as object)
    const files = await copyStoredFiles(join(resolve(source), 'files'), join(dir, 'files'))
    report = { format: 1, dir, source: resolve(source), created: new Date().toISOString(), seal: await heldBy(out), stores: await countStores(out), files }
  } finally {
    await out.close()
  }
  if (report.stores.error !== undefined) throw new BackupError(`the backup in ${dir} does not read back: ${report.stores.error}`)
  await writeFile(join(dir, BACKUP_FILE), JSON.stringify(report, null, 2) + '\n', { mode: 0o600 })
  return report
}

/** Reads a backup's description; throws BackupError when `dir` holds no finished backup. */
export async function readBackup (dir: string): Promise<BackupReport> {
  let text: string
  try {
    text = await readFile(join(dir, BACKUP_FILE), 'utf8')
  } catch (err) {
    throw new BackupError(`${dir} holds no finished backup (no ${BACKUP_FILE})`, { cause: err })
  }
  const report = JSON.parse(text) as BackupReport
  if (report.format !== 1) throw new BackupError(`${join(dir, BACKUP_FILE)}: unknown backup format ${String(report.format)}`)
  return report
}

/** Throws BackupError unless `dir` is missing or an empty directory. */
export async function requireEmpty (dir: string, doing: string): Promise<void> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return []
    throw new BackupError(`cannot ${doing} ${dir}: ${err.code ?? err.message}`, { cause: err })
  })
  if (entries.length > 0) throw new BackupError(`will not ${doing} ${dir}: it is not empty`)
}

/** Copies the stored files, not uploads in progress; resolves with how many files were copied. */
export async function copyStoredFiles (from: string, to: string): Promise<number> {
  await cp(from, to, { recursive: true, errorOnExist: true, filter: (path) => path !== join(from, 'uploads') })
    .catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  return await countFiles(to)
}

async function countFiles (dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((entry) => entry.isFile()).length
}
