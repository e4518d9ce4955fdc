import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Level } from 'level'
import { DataDirBusyError, DataDirDamagedError, StoreError } from '../errors.js'
import { checkLevelDir } from './check-level-dir.js'
import type { Damage } from './damage.js'
import { DataSeal } from './data-seal.js'
import { levelLockHeld } from './lock-holder.js'

export interface OpenLevelDirOptions {
  /** Create the directory (0700: it holds password hashes and the token secret) and the database when missing. */
  create?: boolean
}

export interface OpenedLevelDir {
  path: string
  db: Level<string, Buffer>
  /** Give it to the group commit (GroupCommitOptions.seal), and close it after the last batch, before the database. */
  seal: DataSeal
}

/**
 * Opens a data directory's database the safe way: its files are checked
 * first (checkLevelDir), before LevelDB replays or deletes anything, then
 * its seal against the mark of the last batches that reached disk. Throws
 * DataDirDamagedError naming what is damaged (nothing was changed when a
 * file did not verify; when the seal is behind, LevelDB has replayed what
 * was left of its log); DataDirBusyError when another
 * process holds the directory; StoreError when it cannot be opened, or does
 * not exist and `create` is off.
 */
export async function openLevelDir (dir: string, options: OpenLevelDirOptions = {}): Promise<OpenedLevelDir> {
  const path = resolve(dir)
  const create = options.create ?? false
  if (create) await mkdir(path, { recursive: true, mode: 0o700 })
  const busy = (cause?: unknown): DataDirBusyError => new DataDirBusyError(`data directory ${path} is in use by another process`, { cause })
  if (await levelLockHeld(path)) throw busy()
  const check = await checkLevelDir(path, { verified: await readVerified(path) })
  if (check.damage.length > 0) throw new DataDirDamagedError(damaged(path, check.damage))
  if (check.tables !== undefined && !check.empty) await writeVerified(path, check.tables)
  const db = new Level<string, Buffer>(path, { valueEncoding: 'buffer', createIfMissing: create })
  try {
    await db.open()
  } catch (err) {
    await db.close().catch(() => {})
    const cause = String((err as Error).cause ?? err)
    if (/lock/i.test(cause)) throw busy(err)
    if (/does not exist|no such file/i.test(cause)) throw new StoreError(`no data directory at ${path} (add a user first, or check --data)`, { cause: err })
    throw new StoreError(`cannot open data directory ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const { seal, lost } = await DataSeal.open(db, path)
    if (lost !== undefined) throw new DataDirDamagedError(damaged(path, [lost]))
    return { path, db, seal }
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
}

/** Tables verified at an earlier start (check-level-dir.ts, CheckOptions.verified), kept beside the database. */
const VERIFIED_FILE = 'hail-verified.json'

async function readVerified (dir: string): Promise<Map<string, string>> {
  try {
    return new Map(Object.entries(JSON.parse(await readFile(join(dir, VERIFIED_FILE), 'utf8')) as Record<string, string>))
  } catch {
    return new Map() // none yet, or unreadable: every table is read
  }
}

async function writeVerified (dir: string, tables: Map<string, string>): Promise<void> {
  const temp = join(dir, `${VERIFIED_FILE}.tmp`)
  // Not synced: a list lost in a crash only makes the next start read every table again.
  await writeFile(temp, JSON.stringify(Object.fromEntries(tables)) + '\n', { mode: 0o600 })
  await rename(temp, join(dir, VERIFIED_FILE))
}

/** One line: the first problem, how many more, and what to do. */
export function damaged (path: string, damage: readonly Damage[]): string {
  const first = damage[0]!
  const more = damage.length > 1 ? ` (and ${damage.length - 1} more problem${damage.length > 2 ? 's' : ''})` : ''
  return `data directory ${path} is damaged: ${first.file}: ${first.what}${more}; ` +
    `refusing to open it: run 'hail repair --data ${path}' to salvage what can be read`
}
