import { ByteReader } from './byte-reader.js'
import { crc32c, maskCrc } from './crc32c.js'
import { IntegrityError } from './integrity-error.js'
import { snappyUncompress } from './snappy.js'

// leveldb/doc/table_format.md
const FOOTER = 48
const TRAILER = 5
const MAGIC_LOW = 0x8b80fb57
const MAGIC_HIGH = 0xdb477524
const SNAPPY = 1

interface Handle { offset: number, size: number }

/**
 * Checks a table file as LevelDB with every checksum on would read it: the
 * footer, then the index block, then each data block it points to, each
 * block's CRC-32C. LevelDB itself verifies none of them unless asked, which
 * classic-level never does, so a garbled block could be read as garbage.
 * Returns what is wrong, the first problem only (one is enough to refuse
 * the file); an empty list when the table is whole.
 */
export function checkTable (file: Buffer): string[] {
  try {
    if (file.length < FOOTER) throw new IntegrityError(`${file.length} bytes: shorter than a table footer`)
    const footer = file.subarray(file.length - FOOTER)
    if (footer.readUInt32LE(40) !== MAGIC_LOW || footer.readUInt32LE(44) !== MAGIC_HIGH) throw new IntegrityError('no table footer (bad magic number)')
    const r = new ByteReader(footer)
    const metaindex = { offset: r.varint(), size: r.varint() }
    const index = { offset: r.varint(), size: r.varint() }
    readBlock(file, metaindex, 'metaindex block')
    const indexBlock = readBlock(file, index, 'index block')
    for (const handle of blockHandles(indexBlock)) readBlock(file, handle, `data block at ${handle.offset}`)
    return []
  } catch (err) {
    if (err instanceof IntegrityError) return [err.message]
    throw err
  }
}

/** A block's contents, its checksum verified and uncompressed. */
function readBlock (file: Buffer, { offset, size }: Handle, what: string): Buffer {
  const end = offset + size
  if (end + TRAILER > file.length) throw new IntegrityError(`${what}: past the end of the file`)
  const type = file[end]!
  if (maskCrc(crc32c(file, offset, end + 1)) !== file.readUInt32LE(end + 1)) throw new IntegrityError(`${what}: checksum mismatch`)
  const contents = file.subarray(offset, end)
  if (type === 0) return contents
  if (type === SNAPPY) return snappyUncompress(contents)
  throw new IntegrityError(`${what}: unknown compression ${type}`)
}

/** The values of a block's entries, read as block handles (an index block's entries). */
function blockHandles (block: Buffer): Handle[] {
  if (block.length < 4) throw new IntegrityError('index block too short')
  const restarts = block.readUInt32LE(block.length - 4)
  const limit = block.length - 4 - restarts * 4
  if (limit < 0) throw new IntegrityError('index block: bad restart count')
  const r = new ByteReader(block, 0, limit)
  const handles: Handle[] = []
  while (!r.done) {
    r.varint() // bytes shared with the previous key
    const unshared = r.varint()
    const valueLength = r.varint()
    r.slice(unshared)
    const value = new ByteReader(r.slice(valueLength))
    handles.push({ offset: value.varint(), size: value.varint() })
  }
  return handles
}
