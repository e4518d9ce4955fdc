/**
 * CRC-32C (Castagnoli), the checksum LevelDB keeps in every log record and
 * table block; node:zlib offers only the IEEE polynomial. Slicing by 8: about
 * a byte per table lookup, fast enough to verify a data directory at start.
 */
const TABLES = makeTables()

function makeTables (): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256))
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    tables[0]![n] = c >>> 0
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) tables[t]![n] = (tables[t - 1]![n]! >>> 8) ^ tables[0]![tables[t - 1]![n]! & 0xff]!
  }
  return tables
}

/** The CRC-32C of `bytes[start, end)`, continuing from `crc` (0 to start). */
export function crc32c (bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array]
  let c = ~crc >>> 0
  let i = start
  for (; i + 8 <= end; i += 8) {
    const a = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0
    c = t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^
      t3[bytes[i + 4]!]! ^ t2[bytes[i + 5]!]! ^ t1[bytes[i + 6]!]! ^ t0[bytes[i + 7]!]!
  }
  for (; i < end; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}

/**
 * LevelDB stores checksums masked (leveldb/util/crc32c.h: a CRC of data that
 * holds CRCs is weak), so a stored value is compared with mask(crc).
 */
export function maskCrc (crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0
}
