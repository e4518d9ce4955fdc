// RedisPersistence encodes with msgpackr; aedes-persistence-redis, whose keys
// it shares (and Hail releases before this change), with msgpack-lite. Each
// must read what the other wrote, byte for byte through a real redis-server.
import t from 'tap'
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'
import packetConstructor from 'aedes-packet'
import { Redis } from 'ioredis'
import msgpackLite from 'msgpack-lite'
import { RedisPersistence } from '../../../broker/persistence/redis-persistence.js'
import { redisPacketCodec } from '../../../broker/persistence/redis-packet-codec.js'
import { RedisServer } from '../../helpers/redis-server.js'

interface FakeBroker { id: string, counter: number, clients: Record<string, unknown>, subscribe: () => void, unsubscribe: () => void, publish: () => void }

const Packet = packetConstructor as unknown as new (original: object, broker: FakeBroker) => Record<string, unknown>

function fakeBroker (id: string): FakeBroker {
  const noop = (..._args: unknown[]): void => { (_args.at(-1) as (() => void) | undefined)?.() }
  return { id, counter: 0, clients: {}, subscribe: noop, unsubscribe: noop, publish: noop }
}

/** A packet with what a queued MQTT publish carries: a binary payload, `messageId: undefined`, v5 properties, an expiry. */
function packet (broker: FakeBroker, text: string): Record<string, unknown> {
  return new Packet({
    cmd: 'publish',
    topic: 'site/7/état',
    payload: Buffer.from([0, 255, ...Buffer.from(text)]),
    qos: 1,
    retain: false,
    dup: false,
    properties: { userProperties: { k: 'v' }, correlationData: Buffer.from([1, 2]) },
    messageExpiry: 1_765_000_000_123
  }, broker)
}

async function collect<T> (stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of stream) items.push(item)
  return items
}

/** The fields both libraries must agree on (undefined reads back as null in both). */
function fields (p: Record<string, unknown>): unknown {
  return { ...p, messageId: p.messageId ?? null, payload: Buffer.from(p.payload as Buffer).toString('hex') }
}

t.test('the codec and msgpack-lite read each other\'s bytes', async (t) => {
  const broker = fakeBroker('b1')
  const p = packet(broker, 'x')
  const decodedByLite = msgpackLite.decode(redisPacketCodec.encode(p))
  const decodedByUs = redisPacketCodec.decode(msgpackLite.encode(p))
  t.same(fields(decodedByLite), fields(p), 'msgpack-lite reads msgpackr\'s bytes')
  t.same(fields(decodedByUs), fields(p), 'msgpackr reads msgpack-lite\'s bytes')
  t.equal(decodedByLite.messageId, null, 'undefined is nil, not an extension msgpack-lite would hand back as an ExtBuffer')
  t.same(decodedByUs, decodedByLite, 'both decode to the same object')
  t.ok(Buffer.isBuffer(decodedByUs.payload), 'a binary payload comes back as a Buffer')
})

t.test('queues and wills written by either library are read by the other, on a real redis-server', async (t) => {
  const server = await RedisServer.start()
  t.teardown(() => server.stop())
  const hailConn = new Redis(server.url)
  const liteConn = new Redis(server.url)
  const broker = fakeBroker('b1')
  const hail = new RedisPersistence(hailConn)
  const lite = new AsyncRedisPersistence({ conn: liteConn }) as unknown as {
    setup: (b: object) => Promise<void>
    outgoingEnqueueCombi: (subs: Array<{ clientId: string }>, p: object) => Promise<void>
    outgoingStream: (c: { id: string }) => AsyncIterable<Record<string, unknown>>
    putWill: (c: { id: string }, p: object) => Promise<void>
    getWill: (c: { id: string }) => Promise<Record<string, unknown> | undefined>
    destroy: () => Promise<void>
  }
  await hail.setup(broker)
  await lite.setup(broker)
  t.teardown(async () => {
    await hail.destroy().catch(() => {})
    await lite.destroy().catch(() => {})
  })

  // msgpack-lite writes, msgpackr reads
  const fromLite = [packet(broker, 'a'), packet(broker, 'b')]
  for (const p of fromLite) await lite.outgoingEnqueueCombi([{ clientId: 'alice/phone' }], p)
  const readByHail = await collect(hail.outgoingStream({ id: 'alice/phone' }) as AsyncIterable<Record<string, unknown>>)
  t.same(readByHail.map(fields), fromLite.map(fields), 'a queue msgpack-lite wrote, streamed by Hail')

  // msgpackr writes, msgpack-lite reads
  const fromHail = [packet(broker, 'c'), packet(broker, 'd')]
  for (const p of fromHail) await hail.outgoingEnqueueCombi([{ clientId: 'bob/laptop' }], p as never)
  const readByLite = await collect(lite.outgoingStream({ id: 'bob/laptop' }))
  t.same(readByLite.map(fields), fromHail.map(fields), 'a queue Hail wrote, streamed by aedes-persistence-redis')

  // wills, both ways
  const will = { cmd: 'publish', topic: 'status/alice', payload: Buffer.from('gone'), qos: 1, retain: true }
  await hail.putWill({ id: 'alice/phone' }, { ...will })
  t.same(fields((await lite.getWill({ id: 'alice/phone' }))!), fields({ ...will, clientId: 'alice/phone', brokerId: 'b1' }), 'a will Hail wrote, read by aedes-persistence-redis')
  await lite.putWill({ id: 'bob/laptop' }, { ...will, topic: 'status/bob' })
  t.same(fields(await hail.delWill({ id: 'bob/laptop' }) as Record<string, unknown>), fields({ ...will, topic: 'status/bob', clientId: 'bob/laptop', brokerId: 'b1' }), 'a will aedes-persistence-redis wrote, read by Hail')
})
