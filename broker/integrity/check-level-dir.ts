import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { sealsOfBatch, type BatchSealValue } from './data-seal.js'
import type { Damage, SealGap } from './damage.js'
import { IntegrityError } from './integrity-error.js'
import { readLog, type LogDamage } from './level-log.js'
import { replayManifest, type ManifestState } from './level-manifest.js'
import { checkTable } from './level-table.js'

export interface CheckOptions {
  /**
   * Tables verified before, by name, with the stamp (size, inode, ctime) they
   * had then: LevelDB never rewrites a table, so one whose stamp is unchanged
   * is only checked for its presence and size, not read again.
   */
  verified?: ReadonlyMap<string, string>
}

export interface LevelDirCheck {
  /** No database there yet: a new data directory. */
  empty: boolean
  /** What LevelDB would lose, or refuse, on opening the directory; empty when it is whole. */
  damage: Damage[]
  /** What a crash leaves and loses nothing acknowledged: an unfinished last write at the end of a log. */
  notes: Damage[]
  /** Sealed write batches missing between those the write-ahead logs hold: what a dropped stretch cost. */
  gaps: SealGap[]
  /** The live tables that verified (or were trusted), with their stamps: the next check's `verified`. */
  tables?: Map<string, string>
}

/** LevelDB's own files in a data directory, by kind and number. */
export interface LevelFiles {
  current: boolean
  manifests: string[]
  logs: Map<number, string>
  tables: Map<number, string>
}

export async function listLevelFiles (dir: string): Promise<LevelFiles> {
  const files: LevelFiles = { current: false, manifests: [], logs: new Map(), tables: new Map() }
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return files
    throw err
  }
  for (const name of names) {
    const numbered = /^(\d+)\.(log|ldb|sst)$/.exec(name)
    if (name === 'CURRENT') files.current = true
    else if (/^MANIFEST-\d+$/.test(name)) files.manifests.push(name)
    else if (numbered?.[2] === 'log') files.logs.set(Number(numbered[1]), name)
    else if (numbered !== null) files.tables.set(Number(numbered[1]), name)
  }
  return files
}

/**
 * Checks a data directory's LevelDB files before anything opens them, since
 * opening is not harmless: LevelDB replays its write-ahead log dropping what
 * does not parse (a zeroed stretch without a word, a checksum mismatch only in
 * its LOG file), starts an empty database over tables whose CURRENT is gone
 * and then deletes them, and reads table blocks without verifying their
 * checksums. Here every log record and table block is verified, the MANIFEST
 * replayed and each live table found with its recorded size. Reads each file
 * once; changes nothing.
 */
export async function checkLevelDir (dir: string, options: CheckOptions = {}): Promise<LevelDirCheck> {
  const files = await listLevelFiles(dir)
  const damage: Damage[] = []
  const notes: Damage[] = []
  if (!files.current) {
    const left = files.manifests.length + files.logs.size + files.tables.size
    if (left > 0) {
      damage.push({ file: 'CURRENT', what: `missing, yet ${files.tables.size} table files, ${files.logs.size} logs and ${files.manifests.length} MANIFESTs are there: LevelDB would start an empty database and delete the tables` })
    }
    return { empty: left === 0, damage, notes, gaps: [] }
  }

  const current = await readFile(join(dir, 'CURRENT'), 'utf8')
  const manifestName = /^(MANIFEST-\d+)\n$/.exec(current)?.[1]
  if (manifestName === undefined) {
    damage.push({ file: 'CURRENT', what: 'does not name a MANIFEST' })
    return { empty: false, damage, notes, gaps: [] }
  }
  let manifest: ManifestState
  try {
    const log = readLog(await readFile(join(dir, manifestName)))
    for (const d of log.damage) damage.push({ file: manifestName, what: describe(d) })
    if (log.tornTail !== undefined) notes.push({ file: manifestName, what: describe(log.tornTail) })
    manifest = replayManifest(log)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') damage.push({ file: manifestName, what: 'missing (CURRENT names it)' })
    else if (err instanceof IntegrityError) damage.push({ file: manifestName, what: err.message })
    else throw err
    return { empty: false, damage, notes, gaps: [] }
  }

  const tables = new Map<string, string>()
  for (const [number, size] of manifest.tables) {
    const name = files.tables.get(number)
    if (name === undefined) {
      damage.push({ file: `${String(number).padStart(6, '0')}.ldb`, what: 'missing (the MANIFEST lists it)' })
      continue
    }
    const found = await stat(join(dir, name))
    if (found.size !== size) {
      damage.push({ file: name, what: `${found.size} bytes where the MANIFEST recorded ${size}` })
      continue
    }
    const stamp = `${found.size}:${found.ino}:${found.ctimeMs}`
    if (options.verified?.get(name) !== stamp) {
      const problems = checkTable(await readFile(join(dir, name)))
      for (const problem of problems) damage.push({ file: name, what: problem })
      if (problems.length > 0) continue
    }
    tables.set(name, stamp)
  }

  // The logs LevelDB replays at open (leveldb/db/db_impl.cc, DBImpl::Recover).
  // Batches are numbered when they are made, and writers sharing the database (the stores'
  // group commits) hand theirs to LevelDB concurrently, so the log may hold #114 before #113.
  // A gap is a number that no replayed log holds at all, not one out of order.
  const sealed: Array<{ seal: BatchSealValue, file: string }> = []
  for (const [number, name] of [...files.logs].sort((a, b) => a[0] - b[0])) {
    if (number < manifest.logNumber && number !== manifest.prevLogNumber) continue
    const file = await readFile(join(dir, name))
    const log = readLog(file)
    for (const d of log.damage) damage.push({ file: name, what: `${describe(d)} of ${file.length}` })
    if (log.tornTail !== undefined) notes.push({ file: name, what: describe(log.tornTail) })
    for (const record of log.records) {
      try {
        for (const seal of sealsOfBatch(record)) sealed.push({ seal, file: name })
      } catch (err) {
        if (!(err instanceof IntegrityError)) throw err
        damage.push({ file: name, what: `a record that is not a write batch (${err.message})` })
      }
    }
  }
  sealed.sort((a, b) => a.seal.batch - b.seal.batch)
  const gaps: SealGap[] = []
  for (let i = 1; i < sealed.length; i++) {
    const previous = sealed[i - 1]!.seal
    const { seal, file } = sealed[i]!
    if (seal.batch > previous.batch + 1) {
      gaps.push({ file, from: previous.batch + 1, to: seal.batch - 1, writes: seal.writes - seal.own - previous.writes })
    }
  }
  // A gap with no damage to explain it: batches cut out of the log whole.
  for (const gap of gaps) {
    if (!damage.some((d) => d.file === gap.file)) damage.push({ file: gap.file, what: `write batches #${gap.from} to #${gap.to} are missing` })
  }
  return { empty: false, damage, notes, gaps, tables }
}

function describe (d: LogDamage): string {
  return `${d.reason} at byte ${d.offset}`
}
