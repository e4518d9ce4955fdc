import { crc32c, maskCrc } from './crc32c.js'

// leveldb/doc/log_format.md: 32 KiB blocks of records, each with a 7-byte
// header (masked CRC-32C of type and data, 16-bit length, type).
const BLOCK = 32768
const HEADER = 7
const FULL = 1
const FIRST = 2
const MIDDLE = 3
const LAST = 4

/** A stretch of a log file that LevelDB would drop on opening it. */
export interface LogDamage {
  offset: number
  reason: string
}

export interface LogContents {
  /** The logical records, whole (fragments joined). */
  records: Buffer[]
  /**
   * Stretches dropped before a later good record: damage. A bad stretch at
   * the very end is not listed here but in `tornTail`: a write cut short by
   * a crash leaves one, and so may damage; the seal tells them apart.
   */
  damage: LogDamage[]
  /** Where an unusable tail starts (an unfinished last write, or damage at the end), if there is one. */
  tornTail: LogDamage | undefined
}

/**
 * Reads a LevelDB log file (a write-ahead log or a MANIFEST) as LevelDB's
 * log::Reader would, but tells every dropped stretch instead of skipping it
 * silently: LevelDB, without paranoid checks, drops a zeroed region without
 * a word and logs checksum mismatches only to its own LOG file.
 */
export function readLog (file: Buffer): LogContents {
  const records: Buffer[] = []
  const bad: LogDamage[] = []
  let lastGoodEnd = 0
  let pending: Buffer[] | undefined
  let pendingAt = 0
  const drop = (offset: number, reason: string): void => {
    bad.push({ offset, reason })
    pending = undefined
  }

  for (let block = 0; block < file.length; block += BLOCK) {
    const end = Math.min(block + BLOCK, file.length)
    let pos = block
    while (end - pos >= HEADER) {
      const length = file.readUInt16LE(pos + 4)
      const type = file[pos + 6]!
      if (type === 0 && length === 0 && file.readUInt32LE(pos) === 0) {
        // Zeros: LevelDB skips the rest of the block without reporting it.
        drop(pos, 'zeroed bytes')
        break
      }
      if (pos + HEADER + length > end) {
        drop(pos, end === file.length ? 'record cut short' : 'bad record length')
        break
      }
      const stored = file.readUInt32LE(pos)
      if (maskCrc(crc32c(file, pos + 6, pos + HEADER + length)) !== stored) {
        drop(pos, 'checksum mismatch')
        break
      }
      const data = file.subarray(pos + HEADER, pos + HEADER + length)
      if (type === FULL) {
        if (pending !== undefined) bad.push({ offset: pendingAt, reason: 'record without its end' })
        pending = undefined
        records.push(data)
        lastGoodEnd = pos + HEADER + length
      } else if (type === FIRST) {
        if (pending !== undefined) bad.push({ offset: pendingAt, reason: 'record without its end' })
        pending = [data]
        pendingAt = pos
      } else if (type === MIDDLE || type === LAST) {
        if (pending === undefined) {
          bad.push({ offset: pos, reason: 'record without its start' })
        } else {
          pending.push(data)
          if (type === LAST) {
            records.push(Buffer.concat(pending))
            pending = undefined
            lastGoodEnd = pos + HEADER + length
          }
        }
      } else {
        drop(pos, `unknown record type ${type}`)
        break
      }
      pos += HEADER + length
    }
  }
  if (pending !== undefined) bad.push({ offset: pendingAt, reason: 'record cut short' })
  // Bad stretches after the last good record form the tail; any before it is damage.
  const damage = bad.filter((d) => d.offset < lastGoodEnd)
  const tail = bad.filter((d) => d.offset >= lastGoodEnd)
  return { records, damage, tornTail: tail[0] }
}
