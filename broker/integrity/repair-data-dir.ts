import { copyFile, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Level } from 'level'
import { DataDirBusyError, DataDirDamagedError } from '../errors.js'
import { checkLevelDir, listLevelFiles } from './check-level-dir.js'
import { DataSeal, heldBy, readMark, SEAL_FILE, type SealState } from './data-seal.js'
import { levelLockHeld } from './lock-holder.js'
import { formatRepairReport, type RepairReport } from './repair-report.js'
import { countStores, type StoreCounts } from './store-counts.js'

type Repairable = typeof Level & { repair?: (location: string) => Promise<void> }

/**
 * `hail repair`: salvage what can be read from a damaged data directory and
 * tell what was lost. The database files are first copied aside
 * (DIR/repair-TIMESTAMP/, with the report); the counts of what LevelDB
 * alone would have opened are taken from a scratch copy; then LevelDB's
 * RepairDB (classic-level's static repair) rebuilds the database from every
 * table and log it can read, setting what it cannot use aside in DIR/lost/;
 * the counts after, the batches the seal shows missing, and the seal's mark
 * accepts the result so the daemon starts again. A directory that is whole is
 * left as it is. Throws DataDirBusyError while a process holds it.
 */
export async function repairDataDir (dataDir: string): Promise<RepairReport> {
  const dir = resolve(dataDir)
  if (await levelLockHeld(dir)) throw new DataDirBusyError(`data directory ${dir} is in use by another process: stop the daemon before repairing it`)
  const check = await checkLevelDir(dir)
  if (check.empty) throw new DataDirDamagedError(`no database in ${dir}: nothing to repair (check --data)`)
  if (check.damage.length === 0) {
    // The files verify, so LevelDB may replay them; what is left is the seal against its mark.
    const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer', createIfMissing: false })
    await db.open()
    try {
      const { lost } = await DataSeal.open(db, dir)
      if (lost === undefined) return { dir, healthy: true, damage: [], gaps: [], setAside: [], lost: [], remaining: [] }
      check.damage.push(lost)
    } finally {
      await db.close()
    }
  }

  const kept = join(dir, `repair-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  await copyDatabase(dir, kept)
  const mark = await readMark(dir).catch(() => undefined)
  const before = await countLeniently(kept)

  // RepairDB reads tables without verifying their checksums and keeps a garbled block's garbage: a table that failed the check goes aside whole.
  const setAside: string[] = []
  for (const name of new Set(check.damage.map((d) => d.file).filter((file) => /^\d+\.(ldb|sst)$/.test(file)))) {
    await mkdir(join(dir, 'lost'), { recursive: true })
    const moved = await rename(join(dir, name), join(dir, 'lost', name)).then(() => true, () => false)
    if (moved) setAside.push(name)
  }
  const repair = (Level as Repairable).repair
  if (typeof repair !== 'function') throw new DataDirDamagedError('this build of level has no repair (classic-level expected)')
  await repair.call(Level, dir)

  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer', createIfMissing: false })
  await db.open()
  let after: StoreCounts
  let held: SealState
  try {
    after = await countStores(db)
    held = await heldBy(db)
    await DataSeal.accept(db, dir)
  } finally {
    await db.close()
  }
  const report: RepairReport = {
    dir,
    healthy: false,
    kept,
    damage: check.damage,
    gaps: check.gaps,
    before,
    after,
    setAside,
    lost: await readdir(join(dir, 'lost')).catch(() => []),
    remaining: (await checkLevelDir(dir)).damage
  }
  if (mark !== undefined && mark.batch > held.batch) report.cut = { from: held.batch + 1, to: mark.batch, writes: mark.writes - held.writes }
  await writeFile(join(kept, 'report.txt'), formatRepairReport(report), { mode: 0o600 })
  return report
}

/** Copies the database's files (and the seal's mark) of `dir` into `to`, made 0700. */
async function copyDatabase (dir: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o700 })
  const files = await listLevelFiles(dir)
  const names = [
    ...(files.current ? ['CURRENT'] : []), ...files.manifests, ...files.logs.values(), ...files.tables.values(), SEAL_FILE, 'LOG', 'LOG.old'
  ]
  for (const name of names) {
    await copyFile(join(dir, name), join(to, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }
}

/** What LevelDB opening the kept copy as is would show: a scratch copy of it, opened without checks, counted, removed. */
async function countLeniently (kept: string): Promise<StoreCounts> {
  const scratch = join(kept, 'scratch')
  await copyDatabase(kept, scratch)
  const db = new Level<string, Buffer>(scratch, { valueEncoding: 'buffer' })
  try {
    await db.open()
    return await countStores(db)
  } catch (err) {
    return { counts: Object.fromEntries([]) as StoreCounts['counts'], other: 0, error: `LevelDB could not open it: ${(err as Error).message}` }
  } finally {
    await db.close().catch(() => {})
    await rm(scratch, { recursive: true, force: true })
  }
}
