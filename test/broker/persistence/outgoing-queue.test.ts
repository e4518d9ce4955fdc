import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import packetConstructor from 'aedes-packet'
import { Level } from 'level'
import { OutgoingQueue, type OutgoingQueueOptions } from '../../../broker/persistence/outgoing-queue.js'
import type { LevelDatabase } from '../../../broker/storage/index.js'
import type { StoredPacket } from '../../../broker/persistence/packet-codec.js'

// aedes-packet's typings describe a namespace; at runtime it is the constructor
const Packet = packetConstructor as unknown as new (original: object, broker: { id: string, counter: number }) => StoredPacket
const broker = { id: 'broker-1', counter: 0 }

function publish (payload: string): StoredPacket {
  return new Packet({ cmd: 'publish', topic: 'im/inbox/bob', payload, qos: 1, retain: false, dup: false }, broker)
}

async function openDb (t: Tap.Test): Promise<{ db: Level<string, unknown>, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-outgoing-queue-'))
  const db = new Level<string, unknown>(dir)
  t.teardown(async () => {
    if (db.status === 'open') await db.close()
    await rm(dir, { recursive: true, force: true })
  })
  return { db, dir }
}

function queueOn (db: LevelDatabase, options: Partial<OutgoingQueueOptions> = {}): OutgoingQueue {
  return new OutgoingQueue(db.sublevel('outgoing'), { maxQueue: 100_000, ...options })
}

async function collect (stream: AsyncIterable<unknown>): Promise<StoredPacket[]> {
  const items: StoredPacket[] = []
  for await (const item of stream) items.push(item as StoredPacket)
  return items
}

// aedes hands outgoingUpdate a new packet object (a QoSPacket), never the streamed one
function sent (packet: StoredPacket, messageId: number): StoredPacket {
  return { ...packet, messageId }
}

t.test('a drain far past the cache bounds clears every acknowledged packet and keeps the unacknowledged one for a reopen', async (t) => {
  const { db, dir } = await openDb(t)
  const cache = { maxPerClient: 8, maxEntries: 16, maxBytes: 1 << 20 }
  const queue = queueOn(db, { cache })
  for (let i = 0; i < 600; i++) await queue.enqueue(['bob/phone'], publish(`m${i}`))
  let messageId = 0
  let unacked: StoredPacket | undefined
  let largest = 0
  const acks: Array<Promise<unknown>> = []
  for await (const packet of queue.stream('bob/phone') as AsyncIterable<StoredPacket>) {
    const delivery = sent(packet, ++messageId)
    await queue.update('bob/phone', delivery)
    if (String(packet.payload) === 'm300') unacked = delivery
    else acks.push(queue.clear('bob/phone', delivery.messageId))
    largest = Math.max(largest, queue.cacheSize.entries)
  }
  const cleared = await Promise.all(acks)
  t.equal(cleared.filter(p => p !== undefined).length, 599, 'every PUBACK found its packet')
  t.ok(largest <= cache.maxEntries, `the cache stayed within ${cache.maxEntries} entries (at most ${largest})`)
  t.equal(await queue.count('bob/phone'), 1)
  await queue.idle()
  t.equal(queue.total, 1, 'the total followed 600 puts and 599 deletes')
  await db.close()

  const reopened = new Level<string, unknown>(dir)
  t.teardown(() => reopened.close())
  const again = queueOn(reopened)
  await again.countAll()
  t.equal(again.total, 1, 'the total counted from the keys at start-up')
  t.equal(await again.count('bob/phone'), 1, 'the count read back from the store is exact')
  const left = await collect(again.stream('bob/phone'))
  // a QoS 1 messageId is kept in memory only: after a restart the packet goes out under a new one
  t.same(left.map(p => [String(p.payload), p.messageId]), [['m300', undefined]], 'the unacknowledged packet is sent again')
  t.equal(await again.clear('bob/phone', unacked?.messageId), undefined, 'its old messageId was not written')
  await again.update('bob/phone', sent(left[0] as StoredPacket, 9))
  const acked = await again.clear('bob/phone', 9)
  t.equal(String(acked?.payload), 'm300')
  t.equal(acked?.messageId, 9, 'handed back with the messageId it was sent with')
  t.equal(await again.count('bob/phone'), 0)
  await again.idle()
  t.equal(again.total, 0)
})

t.test('a second stream of one client (a takeover) never brings back packets the other delivered', async (t) => {
  const { db } = await openDb(t)
  const queue = queueOn(db)
  for (let i = 0; i < 50; i++) await queue.enqueue(['bob/phone'], publish(`m${i}`))
  const old = (queue.stream('bob/phone') as AsyncIterable<StoredPacket>)[Symbol.asyncIterator]()
  const first = await old.next()
  t.equal(String(first.value?.payload), 'm0', 'the old connection read its first packet')

  // the new connection drains everything
  let messageId = 0
  for await (const packet of queue.stream('bob/phone') as AsyncIterable<StoredPacket>) {
    const delivery = sent(packet, ++messageId)
    await queue.update('bob/phone', delivery)
    t.not(await queue.clear('bob/phone', delivery.messageId), undefined)
  }
  t.equal(await queue.count('bob/phone'), 0)

  // the old stream still reads its snapshot: stale packets, which must not come back
  const stale: StoredPacket[] = []
  for (let next = await old.next(); next.done !== true; next = await old.next()) stale.push(next.value)
  t.equal(stale.length, 49, 'the old snapshot held the rest')
  for (const packet of stale) {
    await t.rejects(queue.update('bob/phone', sent(packet, ++messageId)), { code: 'HAIL_ERR_NOT_FOUND' }, 'a stale packet is not found')
  }
  t.equal(await queue.count('bob/phone'), 0)
  t.same(await collect(queue.stream('bob/phone')), [], 'nothing was written back')
})

t.test('a failed write fails what was queued behind it and the queue then answers from the store', async (t) => {
  const { db } = await openDb(t)
  const outgoing = db.sublevel('outgoing')
  // the root's private batch: every write of the queue ends there, raw (storage/group-commit.ts) or not
  const root = db as unknown as { _batch: (...args: unknown[]) => Promise<void> }
  const batch = root._batch.bind(root)
  let failNext = false
  Object.assign(root, {
    _batch: (...args: unknown[]) => {
      if (!failNext) return batch(...args)
      failNext = false
      // as a disk would: the failure comes back from the thread pool later
      return new Promise((_resolve, reject) => setImmediate(() => reject(new Error('disk full'))))
    }
  })
  const queue = new OutgoingQueue(outgoing, { maxQueue: 100 })
  for (let i = 0; i < 3; i++) await queue.enqueue(['bob/phone'], publish(`m${i}`))
  const [m0] = await collect(queue.stream('bob/phone'))

  failNext = true
  // a QoS 1 messageId is not waited for; its PUBACK's delete is, and fails with it
  await queue.update('bob/phone', sent(m0, 7))
  await t.rejects(queue.clear('bob/phone', 7), { code: 'HAIL_ERR_STORE' })
  t.equal(await queue.count('bob/phone'), 3, 'the count is read again from the store')
  t.equal(await queue.clear('bob/phone', 7), undefined, 'the messageId that never reached the store is not guessed')
  const again = await collect(queue.stream('bob/phone'))
  t.same(again.map(p => [String(p.payload), p.messageId]), [['m0', undefined], ['m1', undefined], ['m2', undefined]])

  await queue.update('bob/phone', sent(again[0], 8))
  t.equal(String((await queue.clear('bob/phone', 8))?.payload), 'm0', 'delivery works again')
  t.equal(await queue.count('bob/phone'), 2)
  await queue.idle()
  t.equal(queue.total, 2, 'the total (hail_queued_packets) never counted the delete that failed')
})

t.test('the cache stays bounded over many connected clients and every packet is still acknowledged', async (t) => {
  const { db } = await openDb(t)
  const cache = { maxPerClient: 64, maxEntries: 200, maxBytes: 1 << 20 }
  const queue = queueOn(db, { cache, isConnected: () => true })
  const clients = Array.from({ length: 40 }, (_, i) => `user${i}/phone`)
  let largest = 0
  for (let i = 0; i < 20; i++) {
    await queue.enqueue(clients, publish(`m${i}`))
    largest = Math.max(largest, queue.cacheSize.entries)
  }
  t.ok(largest <= cache.maxEntries, `at most ${largest} entries`)
  let cleared = 0
  for (const id of clients) {
    let messageId = 0
    for (const packet of await collect(queue.stream(id))) {
      const delivery = sent(packet, ++messageId)
      await queue.update(id, delivery)
      if (await queue.clear(id, delivery.messageId) !== undefined) cleared++
      largest = Math.max(largest, queue.cacheSize.entries)
    }
    t.equal(await queue.count(id), 0)
  }
  t.equal(cleared, 800)
  t.ok(largest <= cache.maxEntries, `at most ${largest} entries`)
})

t.test('after countAll a client with nothing stored is known empty without a read; one with records, or queued to since, is read', async (t) => {
  const { db, dir } = await openDb(t)
  const first = queueOn(db)
  await first.enqueue(['ann/phone', 'bob/phone'], publish('kept'))
  await first.idle()
  await db.close()

  const reopened = new Level<string, unknown>(dir)
  t.teardown(() => reopened.close())
  await reopened.open()
  // every sublevel read goes through the root's iterators: count the range reads
  let reads = 0
  const keys = reopened.keys.bind(reopened)
  reopened.keys = ((options?: object) => { reads++; return keys(options as never) }) as typeof reopened.keys
  const queue = queueOn(reopened)
  await queue.countAll()
  const afterCount = reads

  t.equal(await queue.count('new/device'), 0)
  t.equal(reads, afterCount, 'a client never queued to reads nothing (its state, as a connect asks for it)')

  t.equal(await queue.count('ann/phone'), 1, 'a client found at start-up is read')
  t.ok(reads > afterCount)
  t.same((await collect(queue.stream('bob/phone'))).map(p => String(p.payload)), ['kept'])

  await queue.enqueue(['new/device'], publish('fresh'))
  t.same((await collect(queue.stream('new/device'))).map(p => String(p.payload)), ['fresh'], 'queued to since start: its record is read')
})

t.test('without countAll every client is read from the store, as before', async (t) => {
  const { db } = await openDb(t)
  await db.open()
  const queue = queueOn(db)
  let reads = 0
  const keys = db.keys.bind(db)
  db.keys = ((options?: object) => { reads++; return keys(options as never) }) as typeof db.keys
  t.equal(await queue.count('new/device'), 0)
  t.ok(reads > 0, 'the range was read')
})

t.test('a QoS 1 messageId is kept in memory: a reconnect gets the packet again under it, and the drain writes only its PUBACKs\' deletes', async (t) => {
  const { db } = await openDb(t)
  // every write of the queue ends in the root's private batch
  const root = db as unknown as { _batch: (ops: Array<{ type: string }>, ...rest: unknown[]) => Promise<void> }
  const batch = root._batch.bind(root)
  const written: string[] = []
  let recording = false
  Object.assign(root, {
    _batch: (ops: Array<{ type: string }>, ...rest: unknown[]) => {
      if (recording) for (const op of ops) written.push(op.type)
      return batch(ops, ...rest)
    }
  })
  const queue = queueOn(db)
  for (let i = 0; i < 20; i++) await queue.enqueue(['bob/phone'], publish(`m${i}`))
  await queue.idle()
  recording = true
  const first = await collect(queue.stream('bob/phone'))
  for (const [i, packet] of first.entries()) await queue.update('bob/phone', sent(packet, 100 + i))
  await queue.idle()
  t.same(written, [], 'sending them wrote nothing')

  // the connection dropped with nothing acknowledged: the next one sends each under its messageId again
  const second = await collect(queue.stream('bob/phone'))
  t.same(second.map(p => p.messageId), first.map((_p, i) => 100 + i), 'the same messageIds, in order')
  // resent under another messageId: the old one no longer finds it
  await queue.update('bob/phone', sent(second[0] as StoredPacket, 7))
  t.equal(await queue.clear('bob/phone', 100), undefined, 'the replaced messageId finds nothing')
  t.equal(String((await queue.clear('bob/phone', 7))?.payload), 'm0', 'the new one finds it')
  for (let i = 1; i < 20; i++) {
    const acked = await queue.clear('bob/phone', 100 + i)
    t.equal(acked?.messageId, 100 + i)
  }
  await queue.idle()
  t.equal(await queue.count('bob/phone'), 0)
  t.ok(written.length > 0 && written.every(type => type === 'del'), 'only deletes were written')
  t.equal(written.length, 40, `two per packet: the record and its by-broker entry (${written.length})`)
  t.same(await collect(queue.stream('bob/phone')), [], 'nothing is left')
})
