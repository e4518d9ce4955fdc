import type { Damage, SealGap } from './damage.js'
import { COUNTED_STORES, type StoreCounts } from './store-counts.js'

/** What `hail repair` found, salvaged and lost (repair-data-dir.ts). */
export interface RepairReport {
  dir: string
  /** Nothing was wrong: nothing was changed. */
  healthy: boolean
  /** Where the damaged directory's database files were copied before anything changed. */
  kept?: string
  /** What the check found. */
  damage: Damage[]
  /** Sealed batches missing inside the write-ahead logs (the dropped stretches). */
  gaps: SealGap[]
  /** Sealed batches missing from the end: the log was cut (from the mark, hail-seal.json). */
  cut?: { from: number, to: number, writes: number }
  /** Counts per store as LevelDB alone would have opened the damaged directory (what Hail served before it checked). */
  before?: StoreCounts
  /** Counts per store after the repair. */
  after?: StoreCounts
  /** Damaged tables moved to DIR/lost/ before the repair: the entries they held are lost. */
  setAside: string[]
  /** What is in DIR/lost/: those tables, and the logs and MANIFESTs LevelDB's repair replaced. */
  lost: string[]
  /** Damage the check still finds after the repair (none, unless the repair failed). */
  remaining: Damage[]
}

/** The report of `hail repair`, as the operator reads it (and as kept beside the copy of the damaged files). */
export function formatRepairReport (report: RepairReport): string {
  if (report.healthy) return `data directory ${report.dir} is whole: nothing to repair, nothing changed\n`
  const lines = [`repaired data directory ${report.dir}`, '', 'damage found:']
  for (const d of report.damage) lines.push(`  ${d.file}: ${d.what}`)
  lines.push('', 'lost:')
  let lostAny = false
  for (const gap of report.gaps) {
    lines.push(`  write batches #${gap.from} to #${gap.to} (${gap.writes} writes) were in the unreadable stretch of ${gap.file}`)
    lostAny = true
  }
  if (report.cut !== undefined) {
    lines.push(`  write batches #${report.cut.from} to #${report.cut.to} (${report.cut.writes} writes) were cut from the end of the write-ahead log`)
    lostAny = true
  }
  for (const file of report.setAside) {
    lines.push(`  table ${file} did not verify and was set aside whole: the entries it held are lost (older versions of the same keys, if any, are what remains)`)
    lostAny = true
  }
  if (!lostAny) lines.push('  no sealed write batch is known to be missing')
  lines.push('', 'per store:        before    after   (before: what LevelDB alone would have opened)')
  for (const [name] of COUNTED_STORES) {
    lines.push(`  ${name.padEnd(14)} ${count(report.before, name).padStart(8)} ${count(report.after, name).padStart(8)}`)
  }
  if (report.before?.error !== undefined) lines.push(`  before: ${report.before.error}`)
  if (report.after?.error !== undefined) lines.push(`  after: ${report.after.error}`)
  lines.push('')
  if (report.remaining.length > 0) {
    lines.push('still damaged after the repair:')
    for (const d of report.remaining) lines.push(`  ${d.file}: ${d.what}`)
  } else {
    lines.push('the data directory is whole again: hail can start on it')
  }
  lines.push(`the damaged files were kept in ${report.kept ?? '(nowhere)'}`)
  if (report.lost.length > 0) lines.push(`LevelDB put what it replaced or could not use in ${report.dir}/lost/: ${report.lost.join(', ')}`)
  return lines.join('\n') + '\n'
}

function count (counts: StoreCounts | undefined, name: keyof StoreCounts['counts']): string {
  const n = counts?.counts[name]
  return n === undefined ? '-' : String(n)
}
