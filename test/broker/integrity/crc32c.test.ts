import t from 'tap'
import { crc32c, maskCrc } from '../../../broker/integrity/crc32c.js'
import { snappyUncompress } from '../../../broker/integrity/snappy.js'

t.test('crc32c() gives the CRC-32C check value of RFC 3720, whole and in pieces', async (t) => {
  const bytes = Buffer.from('123456789')
  t.equal(crc32c(bytes), 0xe3069283)
  t.equal(crc32c(bytes, 4, 9, crc32c(bytes, 0, 4)), 0xe3069283, 'continuing from a partial CRC')
  t.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa, '32 zero bytes (RFC 3720 B.4)')
})

t.test('maskCrc() masks as LevelDB does (leveldb/util/crc32c.h)', async (t) => {
  t.equal(maskCrc(0), 0xa282ead8)
  t.not(maskCrc(0xe3069283), 0xe3069283)
})

t.test('snappyUncompress() reads literals and overlapping copies, and refuses malformed input', async (t) => {
  // "abcd" as a literal, then a copy of 4 bytes from 4 back; then a run: copy 6 from 1 back
  const compressed = Buffer.from([14, 0x0c, 0x61, 0x62, 0x63, 0x64, 0x01, 0x04, 0x09, 0x01])
  t.equal(snappyUncompress(compressed).toString(), 'abcdabcddddddd')
  t.throws(() => snappyUncompress(Buffer.from([8, 0x0c, 0x61])), { code: 'HAIL_ERR_DATA_DAMAGED' }, 'a literal past the end')
  t.throws(() => snappyUncompress(Buffer.from([8, 0x01, 0x09])), { code: 'HAIL_ERR_DATA_DAMAGED' }, 'a copy from before the start')
})
