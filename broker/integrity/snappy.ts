import { IntegrityError } from './integrity-error.js'

/**
 * Snappy decompression (the format of github.com/google/snappy's
 * format_description.txt), for the few table blocks the data directory check
 * must read: index blocks, which LevelDB compresses like data blocks. Throws
 * IntegrityError on anything malformed.
 */
export function snappyUncompress (input: Uint8Array): Buffer {
  let pos = 0
  const varint = (): number => {
    let result = 0
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= input.length) throw new IntegrityError('snappy: truncated length')
      const byte = input[pos++]!
      result += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return result
    }
    throw new IntegrityError('snappy: bad length')
  }
  const length = varint()
  if (length > 64 * 1024 * 1024) throw new IntegrityError('snappy: block too large')
  const out = Buffer.allocUnsafe(length)
  let o = 0
  const need = (n: number): void => {
    if (pos + n > input.length) throw new IntegrityError('snappy: truncated input')
  }
  while (pos < input.length) {
    const tag = input[pos++]!
    const kind = tag & 3
    if (kind === 0) {
      let len = tag >>> 2
      if (len >= 60) {
        const bytes = len - 59
        need(bytes)
        len = 0
        for (let i = 0; i < bytes; i++) len += input[pos + i]! * 2 ** (8 * i)
        pos += bytes
      }
      len += 1
      need(len)
      if (o + len > length) throw new IntegrityError('snappy: output overrun')
      out.set(input.subarray(pos, pos + len), o)
      pos += len
      o += len
      continue
    }
    let len: number
    let offset: number
    if (kind === 1) {
      need(1)
      len = ((tag >>> 2) & 7) + 4
      offset = ((tag >>> 5) << 8) | input[pos++]!
    } else if (kind === 2) {
      need(2)
      len = (tag >>> 2) + 1
      offset = input[pos]! | (input[pos + 1]! << 8)
      pos += 2
    } else {
      need(4)
      len = (tag >>> 2) + 1
      offset = (input[pos]! | (input[pos + 1]! << 8) | (input[pos + 2]! << 16) | (input[pos + 3]! << 24)) >>> 0
      pos += 4
    }
    if (offset === 0 || offset > o || o + len > length) throw new IntegrityError('snappy: bad copy')
    // byte by byte: a copy may overlap what it writes (a run)
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset]!
  }
  if (o !== length) throw new IntegrityError('snappy: short output')
  return out
}
