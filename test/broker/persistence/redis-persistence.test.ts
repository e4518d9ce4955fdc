// aedes-persistence's conformance suite is written for node:test, so this
// file uses node:test throughout (as level-persistence.test.ts does); tap
// runs it as a child process and reads its TAP output.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
// @ts-expect-error aedes-persistence ships no typings for its conformance suite
import abstractPersistence from 'aedes-persistence/abstract.js'
import packetConstructor from 'aedes-packet'
import { Redis } from 'ioredis'
import { RedisPersistence, type RedisPersistenceOptions } from '../../../broker/persistence/redis-persistence.js'
import type { StoredPacket } from '../../../broker/persistence/packet-codec.js'
import { RedisServer } from '../../helpers/redis-server.js'

let server: RedisServer
const connections: Redis[] = []
before(async () => { server = await RedisServer.start() })
after(async () => {
  // the conformance suite does not destroy every persistence it makes
  for (const redis of connections) redis.disconnect()
  await server.stop()
})

async function fresh (options: RedisPersistenceOptions = {}): Promise<RedisPersistence> {
  const redis = new Redis(server.url)
  connections.push(redis)
  await redis.flushall()
  return new RedisPersistence(redis, options)
}

abstractPersistence({ test, testAsync: true, persistence: () => fresh() })

// --- Hail's own requirements

interface FakeBroker { id: string, counter: number, clients: Record<string, unknown>, subscribe: () => void, unsubscribe: () => void, publish: () => void }

const Packet = packetConstructor as unknown as new (original: object, broker: FakeBroker) => StoredPacket

function fakeBroker (id = 'broker-1'): FakeBroker {
  const noop = (..._args: unknown[]): void => { (_args.at(-1) as (() => void) | undefined)?.() }
  return { id, counter: 0, clients: {}, subscribe: noop, unsubscribe: noop, publish: noop }
}

function publish (broker: FakeBroker, payload: string) {
  return new Packet({ cmd: 'publish', topic: 'im/inbox/alice', payload, qos: 1, retain: false, dup: false }, broker)
}

async function collect<T> (stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of stream) items.push(item)
  return items
}

test('the whole offline queue is streamed, past the 1,001 entries of aedes-persistence-redis, in order', async () => {
  const broker = fakeBroker()
  const p = await fresh({ maxQueue: 5000 })
  await p.setup(broker)
  const client = { id: 'alice/phone' }
  for (let i = 0; i < 2500; i++) await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, `m${i}`) as never)
  const queued = await collect(p.outgoingStream(client))
  assert.equal(queued.length, 2500)
  assert.deepEqual(queued.map((q) => String(q.payload)), Array.from({ length: 2500 }, (_, i) => `m${i}`))
  await p.destroy()
})

test('a PUBACK removes exactly its own entry and returns the packet', async () => {
  const broker = fakeBroker()
  const p = await fresh()
  await p.setup(broker)
  const alice = { id: 'alice/phone' }
  const bob = { id: 'bob/phone' }
  for (let i = 0; i < 3; i++) await p.outgoingEnqueueCombi([{ clientId: alice.id }, { clientId: bob.id }], publish(broker, `m${i}`) as never)
  const queued = await collect(p.outgoingStream(alice))
  await p.outgoingUpdate(alice, { ...queued[1], messageId: 7 } as never)
  const acked = await p.outgoingClearMessageId(alice, { messageId: 7 })
  assert.equal(String(acked?.payload), 'm1')
  assert.equal(acked?.messageId, 7)
  assert.deepEqual((await collect(p.outgoingStream(alice))).map((q) => String(q.payload)), ['m0', 'm2'])
  assert.deepEqual((await collect(p.outgoingStream(bob))).map((q) => String(q.payload)), ['m0', 'm1', 'm2'], 'the other subscriber keeps its copy')
  assert.equal(await p.outgoingClearMessageId(alice, { messageId: 7 }), undefined, 'a second PUBACK finds nothing')
  await p.destroy()
})

test('a packet sent but not acknowledged stays queued and is sent again by a restarted node', async () => {
  const broker = fakeBroker()
  const p = await fresh()
  await p.setup(broker)
  const alice = { id: 'alice/phone' }
  for (let i = 0; i < 3; i++) await p.outgoingEnqueueCombi([{ clientId: alice.id }], publish(broker, `m${i}`) as never)
  let n = 0
  for await (const queued of p.outgoingStream(alice)) await p.outgoingUpdate(alice, { ...queued, messageId: ++n } as never)
  assert.equal(String((await p.outgoingClearMessageId(alice, { messageId: 1 }))?.payload), 'm0')
  assert.deepEqual((await collect(p.outgoingStream(alice))).map((q) => [String(q.payload), q.messageId]), [['m1', 2], ['m2', 3]],
    'the others stay queued under their messageIds')

  // another persistence on the same Redis: a node restarted after a crash
  const redis = new Redis(server.url)
  connections.push(redis)
  const restarted = new RedisPersistence(redis)
  await restarted.setup(fakeBroker('broker-2'))
  const again = await collect(restarted.outgoingStream(alice))
  assert.deepEqual(again.map((q) => [String(q.payload), q.messageId ?? undefined]), [['m1', undefined], ['m2', undefined]],
    'queued still, to be sent with fresh messageIds')
  assert.equal(await restarted.outgoingClearMessageId(alice, { messageId: 2 }), undefined, 'a PUBACK of an old messageId clears nothing')
  await restarted.outgoingUpdate(alice, { ...again[1], messageId: 5 } as never)
  assert.equal(String((await restarted.outgoingClearMessageId(alice, { messageId: 5 }))?.payload), 'm2')
  assert.deepEqual((await collect(restarted.outgoingStream(alice))).map((q) => String(q.payload)), ['m1'])
  await restarted.destroy()
  await p.destroy()
})

test('a full offline queue drops new messages and reports each drop', async () => {
  const full: string[] = []
  const broker = fakeBroker()
  const p = await fresh({ maxQueue: 2, onQueueFull: (id) => full.push(id) })
  await p.setup(broker)
  for (let i = 0; i < 4; i++) {
    await p.outgoingEnqueueCombi([{ clientId: 'carol/phone' }, { clientId: 'dan/phone' }], publish(broker, `m${i}`) as never)
  }
  assert.deepEqual((await collect(p.outgoingStream({ id: 'carol/phone' }))).map((q) => String(q.payload)), ['m0', 'm1'])
  assert.deepEqual(full, ['carol/phone', 'dan/phone', 'carol/phone', 'dan/phone'])
  await p.destroy()
})

test('store writes fail while Redis is unreachable, and work again when it is back', async () => {
  const own = await RedisServer.start()
  const broker = fakeBroker()
  const redis = new Redis(own.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  redis.on('error', () => {})
  const p = new RedisPersistence(redis)
  await p.setup(broker)
  await own.kill()
  await assert.rejects(p.outgoingEnqueueCombi([{ clientId: 'erin' }], publish(broker, 'lost') as never))
  await assert.rejects(p.putWill({ id: 'erin' }, { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false }))
  await own.restart()
  await p.outgoingEnqueueCombi([{ clientId: 'erin' }], publish(broker, 'kept') as never)
  assert.deepEqual((await collect(p.outgoingStream({ id: 'erin' }))).map((q) => String(q.payload)), ['kept'])
  await p.destroy()
  await own.stop()
})

test('queuedCount() sums the queues of every client with subscriptions, past one SSCAN batch, and retainedCount() the retained hash', async () => {
  const broker = fakeBroker()
  const p = await fresh()
  await p.setup(broker)
  // 2,500 clients: several SSCAN replies (1,000 asked each), and a set Redis keeps as a hash table
  const clients = Array.from({ length: 2500 }, (_, i) => ({ id: `user${i}/phone` }))
  // the set aedes-persistence-redis keeps of the clients with subscriptions (its addSubscriptions
  // waits for its echo through the broker, which this test's broker does not give)
  const raw = new Redis(server.url)
  connections.push(raw)
  await raw.sadd('clients', ...clients.map((c) => c.id))
  await p.outgoingEnqueueCombi(clients.map((c) => ({ clientId: c.id })), publish(broker, 'a') as never)
  await p.outgoingEnqueueCombi(clients.slice(0, 10).map((c) => ({ clientId: c.id })), publish(broker, 'b') as never)
  assert.equal(await p.queuedCount(), 2510)
  // a queue whose client holds no subscription is not counted (documented)
  await p.outgoingEnqueueCombi([{ clientId: 'nobody' }], publish(broker, 'c') as never)
  assert.equal(await p.queuedCount(), 2510)

  assert.equal(await p.retainedCount(), 0)
  await p.storeRetained({ cmd: 'publish', topic: 'site/1', payload: Buffer.from('on'), qos: 0, retain: true } as never)
  await p.storeRetained({ cmd: 'publish', topic: 'site/2', payload: Buffer.from('on'), qos: 0, retain: true } as never)
  await p.storeRetained({ cmd: 'publish', topic: 'site/1', payload: Buffer.alloc(0), qos: 0, retain: true } as never)
  assert.equal(await p.retainedCount(), 1)
  await p.destroy()
})
