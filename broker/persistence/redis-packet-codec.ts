import { Packr } from 'msgpackr'

/**
 * How RedisPersistence encodes the packets and wills it writes, and decodes
 * what it reads: MessagePack, as aedes-persistence-redis (msgpack-lite),
 * whose data it shares. msgpackr, set so that both read each other's bytes
 * (test/broker/persistence/redis-packet-codec.test.ts): objects as plain
 * maps (no msgpackr records), and undefined as nil, as msgpack-lite writes
 * it (msgpackr's default is an extension msgpack-lite cannot read; aedes
 * packets carry `messageId: undefined`). Either way undefined comes back as
 * null, as it did with msgpack-lite.
 */
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true })

export const redisPacketCodec = {
  encode (value: unknown): Buffer {
    return packr.pack(value)
  },
  decode (buffer: Buffer): any {
    return packr.unpack(buffer)
  }
}
