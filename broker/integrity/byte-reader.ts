import { IntegrityError } from './integrity-error.js'

/** Reads LevelDB's encodings (leveldb/util/coding.h): varints, fixed-width and length-prefixed values. */
export class ByteReader {
  pos: number

  constructor (readonly bytes: Buffer, start = 0, readonly end = bytes.length) {
    this.pos = start
  }

  get done (): boolean {
    return this.pos >= this.end
  }

  byte (): number {
    if (this.pos >= this.end) throw new IntegrityError('unexpected end')
    return this.bytes[this.pos++]!
  }

  /** A varint32 or varint64 (as a number: file numbers and sizes stay far below 2^53). */
  varint (): number {
    let result = 0
    for (let shift = 0; shift < 64; shift += 7) {
      const byte = this.byte()
      result += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return result
    }
    throw new IntegrityError('bad varint')
  }

  slice (length: number): Buffer {
    if (this.pos + length > this.end) throw new IntegrityError('unexpected end')
    const out = this.bytes.subarray(this.pos, this.pos + length)
    this.pos += length
    return out
  }

  lengthPrefixed (): Buffer {
    return this.slice(this.varint())
  }
}
