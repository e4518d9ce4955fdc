// aedes-persistence's conformance suite is written for node:test (t.assert,
// t.plan, t.diagnostic), so this file uses node:test throughout; tap runs it
// as a child process and reads its TAP output, and a failure here fails the
// tap run.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { Aedes } from 'aedes'
// @ts-expect-error aedes-persistence ships no typings for its conformance suite
import abstractPersistence from 'aedes-persistence/abstract.js'
import packetConstructor from 'aedes-packet'
import { Level } from 'level'
import mqtt from 'mqtt'
import { GroupCommit } from '../../../broker/storage/index.js'
import { LevelPersistence, type LevelPersistenceOptions } from '../../../broker/persistence/level-persistence.js'
import type { StoredPacket } from '../../../broker/persistence/packet-codec.js'

const root = await mkdtemp(join(tmpdir(), 'hail-level-persistence-'))
let dirs = 0
after(async () => { await rm(root, { recursive: true, force: true }) })

function freshDir (): string {
  return join(root, String(dirs++))
}

abstractPersistence({
  test,
  testAsync: true,
  persistence: () => new LevelPersistence(new Level(freshDir()), { ownsDb: true })
})

// --- Hail's own requirements

interface FakeBroker { id: string, counter: number, clients: Record<string, unknown> }

// aedes-packet's typings describe a namespace; at runtime it is the constructor
const Packet = packetConstructor as unknown as new (original: object, broker: FakeBroker) => StoredPacket

function fakeBroker (id = 'broker-1'): FakeBroker {
  return { id, counter: 0, clients: {} }
}

async function open (dir: string, options: LevelPersistenceOptions = {}, broker = fakeBroker()) {
  const persistence = new LevelPersistence(new Level(dir), { ...options, ownsDb: true })
  await persistence.setup(broker)
  return persistence
}

function publish (broker: FakeBroker, topic: string, payload: string | Buffer, qos = 1) {
  return new Packet({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, broker)
}

async function collect<T> (stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of stream) items.push(item)
  return items
}

test('a full offline queue drops new messages and reports each drop', async () => {
  const full: string[] = []
  const broker = fakeBroker()
  const p = await open(freshDir(), { maxQueue: 3, onQueueFull: id => full.push(id) }, broker)
  const client = { id: 'alice/phone' }
  for (let i = 0; i < 5; i++) {
    await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'im/inbox/alice', `m${i}`))
  }
  const queued = await collect(p.outgoingStream(client))
  assert.deepEqual(queued.map(q => String(q.payload)), ['m0', 'm1', 'm2'], 'the oldest three are kept, in order')
  assert.deepEqual(full, ['alice/phone', 'alice/phone'], 'each dropped message is reported')
  assert.equal(await p.queueLength(client), 3)

  // delivering one (messageId assigned, then PUBACK) makes room for one more
  await p.outgoingUpdate(client, { ...queued[0], messageId: 1 })
  const acked = await p.outgoingClearMessageId(client, { messageId: 1 })
  assert.equal(String(acked?.payload), 'm0')
  await p.outgoingEnqueue({ clientId: client.id }, publish(broker, 'im/inbox/alice', 'm5'))
  await p.outgoingEnqueue({ clientId: client.id }, publish(broker, 'im/inbox/alice', 'm6'))
  const after = await collect(p.outgoingStream(client))
  assert.deepEqual(after.map(q => String(q.payload)), ['m1', 'm2', 'm5'])
  assert.equal(full.length, 3)
  await p.destroy()
})

test('queue counts survive a reopen and a clean session resets them', async () => {
  const dir = freshDir()
  const full: string[] = []
  const broker = fakeBroker()
  const client = { id: 'bob/laptop' }
  let p = await open(dir, { maxQueue: 2, onQueueFull: id => full.push(id) }, broker)
  await p.outgoingEnqueue({ clientId: client.id }, publish(broker, 't', 'a'))
  await p.outgoingEnqueue({ clientId: client.id }, publish(broker, 't', 'b'))
  await p.destroy()

  p = await open(dir, { maxQueue: 2, onQueueFull: id => full.push(id) }, broker)
  assert.equal(await p.queueLength(client), 2, 'counted from the stored keys')
  await p.outgoingEnqueue({ clientId: client.id }, publish(broker, 't', 'c'))
  assert.deepEqual(full, ['bob/laptop'], 'still full after the reopen')
  assert.deepEqual((await collect(p.outgoingStream(client))).map(q => String(q.payload)), ['a', 'b'])

  await p.cleanSubscriptions(client)
  assert.equal(await p.queueLength(client), 0, 'a clean session drops the queue')
  assert.deepEqual(await collect(p.outgoingStream(client)), [])
  await p.outgoingEnqueue({ clientId: client.id }, publish(broker, 't', 'd'))
  assert.deepEqual((await collect(p.outgoingStream(client))).map(q => String(q.payload)), ['d'])
  await p.destroy()
})

test('a dropped message for a connected client is still updated and acknowledged without error', async () => {
  const broker = fakeBroker()
  broker.clients['carol/phone'] = {}
  const p = await open(freshDir(), { maxQueue: 1 }, broker)
  const client = { id: 'carol/phone' }
  const kept = publish(broker, 't', 'kept')
  const dropped = publish(broker, 't', 'dropped')
  await p.outgoingEnqueueCombi([{ clientId: client.id }], kept)
  await p.outgoingEnqueueCombi([{ clientId: client.id }], dropped)
  // what aedes does when it sends both live: give each a messageId, then clear on PUBACK
  await p.outgoingUpdate(client, { ...kept, messageId: 10 })
  await p.outgoingUpdate(client, { ...dropped, messageId: 11 })
  await p.outgoingUpdate(client, { cmd: 'pubrel', messageId: 11 })
  assert.equal(await p.outgoingClearMessageId(client, { messageId: 11 }), undefined)
  assert.equal(String((await p.outgoingClearMessageId(client, { messageId: 10 }))?.payload), 'kept')
  await assert.rejects(p.outgoingUpdate(client, { cmd: 'pubrel', messageId: 11 }), { code: 'HAIL_ERR_NOT_FOUND' })
  await p.destroy()
})

test('the outgoing queue keeps arrival order across broker ids', async () => {
  // aedes picks a new broker id at every start, and ids do not sort by age
  const later = fakeBroker('0-restarted')
  const earlier = fakeBroker('z-first')
  const p = await open(freshDir(), {}, earlier)
  const client = { id: 'dan' }
  await p.outgoingEnqueue({ clientId: 'dan' }, publish(earlier, 't', 'first'))
  await p.outgoingEnqueue({ clientId: 'dan' }, publish(later, 't', 'second'))
  assert.deepEqual((await collect(p.outgoingStream(client))).map(q => String(q.payload)), ['first', 'second'])
  await p.destroy()
})

test('subscriptions survive a close and reopen of a shared database', async () => {
  const dir = freshDir()
  let db = new Level(dir)
  let batches = 0
  let p = new LevelPersistence(db.sublevel('mqtt'), { groupCommit: new GroupCommit(db, { onBatch: () => { batches++ } }) })
  await p.setup(fakeBroker())
  const client = { id: 'erin/tablet' }
  const subs = [
    { topic: 'im/inbox/erin', qos: 1, rh: 0, rap: false, nl: false },
    { topic: 'im/conv/+', qos: 1 },
    { topic: 'im/typing/#', qos: 0 }
  ]
  await p.addSubscriptions(client, subs)
  assert.equal(batches, 1, 'a subscription change is a synced batch')
  // aedes 1.2 stores a SUBSCRIBE's whole list once per granted filter
  await p.addSubscriptions(client, subs)
  await p.removeSubscriptions(client, ['never/subscribed'])
  assert.equal(batches, 1, 'nothing new is not written (or synced) again')
  await p.removeSubscriptions(client, ['im/conv/+'])
  await p.addSubscriptions({ id: 'frank' }, [{ topic: 'im/inbox/erin', qos: 2 }])
  await p.destroy()
  assert.equal(db.status, 'open', 'destroy() leaves a database it does not own open')
  await db.close()

  db = new Level(dir)
  p = new LevelPersistence(db.sublevel('mqtt'))
  await p.setup(fakeBroker())
  assert.deepEqual(await p.subscriptionsByClient(client), [
    { topic: 'im/inbox/erin', qos: 1, rh: 0, rap: false, nl: false },
    { topic: 'im/typing/#', qos: 0 }
  ])
  const byTopic = await p.subscriptionsByTopic('im/inbox/erin')
  assert.deepEqual(byTopic.map(s => [s.clientId, s.qos]).sort(), [['erin/tablet', 1], ['frank', 2]])
  assert.deepEqual(await p.subscriptionsByTopic('im/typing/x'), [], 'QoS 0 is restored but not matched')
  assert.deepEqual(await p.countOffline(), { subsCount: 2, clientsCount: 2 })
  await p.destroy()
  await db.close()
})

test('retained lookup reads only the filter prefix and returns exactly the matching set', async () => {
  const db = new Level(freshDir())
  const p = new LevelPersistence(db, { ownsDb: true })
  const broker = fakeBroker()
  await p.setup(broker)
  const topics = ['a', 'a/', 'a/b', 'a/b/c', 'a/c', 'ab', 'ab/c', 'b/a', 'b', '$SYS/x', 'é/ü', 'a/日本']
  for (const topic of topics) {
    await p.storeRetained({ cmd: 'publish', topic, payload: Buffer.from(topic), qos: 0, retain: true })
  }
  const ranges: Array<{ gte?: unknown, lt?: unknown }> = []
  const iterator = db.iterator.bind(db)
  db.iterator = ((options: { gte?: unknown, lt?: unknown }) => {
    ranges.push({ gte: options.gte, lt: options.lt })
    return iterator(options as never)
  }) as typeof db.iterator

  async function lookup (...filters: string[]): Promise<string[]> {
    const found = await collect(p.createRetainedStreamCombi(filters))
    return found.map(packet => packet.topic as string).sort()
  }
  assert.deepEqual(await lookup('a/#'), ['a', 'a/', 'a/b', 'a/b/c', 'a/c', 'a/日本'].sort())
  assert.deepEqual(await lookup('a/+'), ['a/', 'a/b', 'a/c', 'a/日本'].sort())
  assert.deepEqual(await lookup('a/+/c'), ['a/b/c'])
  assert.deepEqual(await lookup('+/a'), ['b/a'])
  assert.deepEqual(await lookup('+'), ['a', 'ab', 'b'])
  assert.deepEqual(await lookup('#'), topics.filter(t => t !== '$SYS/x').sort(), 'no $ topics for a leading wildcard')
  assert.deepEqual(await lookup('$SYS/#'), ['$SYS/x'])
  assert.deepEqual(await lookup('ab'), ['ab'])
  assert.deepEqual(await lookup('é/+'), ['é/ü'])
  assert.deepEqual(await lookup('ab/#', 'b/+'), ['ab', 'ab/c', 'b/a'])

  // 'a/#' scanned from "...a" up to "...a\xff", not the whole store
  const scan = ranges[0]
  assert.ok(Buffer.isBuffer(scan.gte) && Buffer.isBuffer(scan.lt), 'a bounded range')
  assert.ok((scan.gte as Buffer).toString('latin1').endsWith('a'))
  assert.deepEqual([...(scan.lt as Buffer).subarray(-2)], [0x61, 0xff])

  await p.storeRetained({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(0), qos: 0, retain: true })
  assert.deepEqual(await lookup('a/b'), [], 'an empty payload deletes')
  await p.destroy()
})

test('retained lookups read nothing for topics without a message, and the topics are known again after a reopen', async () => {
  const dir = freshDir()
  let p = await open(dir)
  await p.storeRetained({ cmd: 'publish', topic: 'kept/1', payload: Buffer.from('x'), qos: 0, retain: true })
  await p.storeRetained({ cmd: 'publish', topic: 'gone/1', payload: Buffer.from('x'), qos: 0, retain: true })
  await p.storeRetained({ cmd: 'publish', topic: 'gone/1', payload: Buffer.alloc(0), qos: 0, retain: true })
  await p.destroy()
  const db = new Level(dir)
  let reads = 0
  const sublevel = db.sublevel.bind(db)
  ;(db as unknown as { sublevel: typeof db.sublevel }).sublevel = ((name: string, options?: object) => {
    const s = sublevel(name, options as never)
    if (name === 'retained') {
      const get = s.get.bind(s)
      const iterator = s.iterator.bind(s)
      ;(s as unknown as { get: unknown }).get = (...args: Parameters<typeof get>) => { reads++; return get(...args) }
      ;(s as unknown as { iterator: unknown }).iterator = (...args: Parameters<typeof iterator>) => { reads++; return iterator(...args) }
    }
    return s
  }) as typeof db.sublevel
  p = new LevelPersistence(db, { ownsDb: true })
  await p.setup(fakeBroker())
  const lookup = async (...filters: string[]) => (await collect(p.createRetainedStreamCombi(filters))).map(packet => packet.topic as string).sort()
  assert.deepEqual(await lookup('gone/1', 'none/2'), [])
  assert.equal(reads, 0, 'no read for topics without a retained message')
  assert.deepEqual(await lookup('kept/1'), ['kept/1'], 'one stored before the reopen is found')
  assert.deepEqual(await lookup('kept/+', '#'), ['kept/1', 'kept/1'], 'wildcards read the store as before')
  await p.storeRetained({ cmd: 'publish', topic: 'kept/1', payload: Buffer.alloc(0), qos: 0, retain: true })
  reads = 0
  assert.deepEqual(await lookup('kept/1', 'kept/#'), [])
  assert.equal(reads, 0, 'nothing retained any more: nothing read')
  await p.storeRetained({ cmd: 'publish', topic: 'new/1', payload: Buffer.from('y'), qos: 0, retain: true })
  assert.deepEqual(await lookup('new/1', 'new/#'), ['new/1', 'new/1'])
  await p.destroy()
})

test('client ids that are prefixes of each other, hold ":" or are not ASCII never share records', async () => {
  const broker = fakeBroker()
  const p = await open(freshDir(), {}, broker)
  const ids = ['a', 'a:', 'a:b', 'ab', 'a%3Ab', '', 'é', 'e\u0301', '日本/端末', '\ud800', '\ufffd']
  for (const id of ids) {
    await p.addSubscriptions({ id }, [{ topic: 'topic', qos: 1 }])
    await p.outgoingEnqueue({ clientId: id }, publish(broker, 'topic', id))
    await p.incomingStorePacket({ id }, { cmd: 'publish', topic: 'in', payload: Buffer.from(id), qos: 2, messageId: 1 })
    await p.putWill({ id }, { topic: 'will', payload: Buffer.from(id), qos: 0, retain: false })
  }
  // payloads are bytes: a lone surrogate in a payload is U+FFFD once encoded
  const text = (id: string) => Buffer.from(id).toString()
  for (const id of ids) {
    assert.deepEqual(await p.subscriptionsByClient({ id }), [{ topic: 'topic', qos: 1 }], `subscriptions of ${JSON.stringify(id)}`)
    assert.deepEqual((await collect(p.outgoingStream({ id }))).map(q => String(q.payload)), [text(id)], `queue of ${JSON.stringify(id)}`)
    assert.equal(String((await p.incomingGetPacket({ id }, { messageId: 1 })).payload), text(id))
    assert.equal(String((await p.getWill({ id }))?.payload), text(id))
  }
  await p.cleanSubscriptions({ id: 'a' })
  await p.cleanIncoming({ id: 'a' })
  await p.delWill({ id: 'a' })
  assert.deepEqual(await p.subscriptionsByClient({ id: 'a' }), [])
  assert.deepEqual(await collect(p.outgoingStream({ id: 'a' })), [])
  await assert.rejects(p.incomingGetPacket({ id: 'a' }, { messageId: 1 }), { code: 'HAIL_ERR_NOT_FOUND' })
  for (const id of ids.filter(id => id !== 'a')) {
    assert.equal(await p.queueLength({ id }), 1, `queue of ${JSON.stringify(id)} untouched`)
    assert.equal(String((await p.incomingGetPacket({ id }, { messageId: 1 })).payload), text(id))
    assert.equal(String((await p.getWill({ id }))?.payload), text(id))
  }
  assert.deepEqual((await collect(p.getClientList('topic'))).sort(), ids.filter(id => id !== 'a').sort())
  assert.equal((await collect(p.streamWill({}))).length, ids.length - 1)
  await p.destroy()
})

test('wills: found after a reopen, and a client without one costs no read (aedes asks at every CONNECT)', async () => {
  const dir = freshDir()
  let p = await open(dir)
  await p.putWill({ id: 'kept' }, { topic: 'will/kept', payload: Buffer.from('bye'), qos: 1, retain: false })
  await p.putWill({ id: 'gone' }, { topic: 'will/gone', payload: Buffer.from('bye'), qos: 0, retain: false })
  await p.delWill({ id: 'gone' })
  await p.destroy()
  const db = new Level(dir)
  let reads = 0
  // counts the persistence's reads of the wills sublevel (it opens its own handle on the same prefix)
  const sublevel = db.sublevel.bind(db)
  ;(db as unknown as { sublevel: typeof db.sublevel }).sublevel = ((name: string, options?: object) => {
    const s = sublevel(name, options as never)
    if (name === 'wills') {
      const g = s.get.bind(s)
      ;(s as unknown as { get: unknown }).get = (...args: Parameters<typeof g>) => { reads++; return g(...args) }
    }
    return s
  }) as typeof db.sublevel
  p = new LevelPersistence(db, { ownsDb: true })
  await p.setup(fakeBroker())
  assert.equal(await p.delWill({ id: 'never' }), undefined)
  assert.equal(await p.getWill({ id: 'gone' }), undefined)
  assert.equal(reads, 0, 'no read for clients without a will')
  assert.equal(String((await p.getWill({ id: 'kept' }))?.topic), 'will/kept', 'a will stored before the reopen is found')
  assert.equal(String((await p.delWill({ id: 'kept' }))?.topic), 'will/kept')
  assert.equal(await p.getWill({ id: 'kept' }), undefined, 'and is gone once deleted')
  assert.equal(reads, 2)
  await p.putWill({ id: 'new' }, { topic: 'will/new', payload: Buffer.from('x'), qos: 0, retain: false })
  assert.equal(String((await p.getWill({ id: 'new' }))?.topic), 'will/new')
  await p.destroy()
})

test('aedes restores a persistent session and its queued messages after a restart on the same database', async (t) => {
  const dir = freshDir()

  async function start () {
    const db = new Level(dir)
    const persistence = new LevelPersistence(db.sublevel('mqtt'), { groupCommit: new GroupCommit(db) })
    const broker = new Aedes({ persistence })
    await broker.listen()
    const server = createServer(broker.handle)
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
    let stopped = false
    async function stop () {
      if (stopped) return
      stopped = true
      await new Promise<void>(resolve => broker.close(() => resolve()))
      await new Promise<void>(resolve => server.close(() => resolve()))
      await persistence.destroy()
      await db.close()
    }
    // a failed assertion must not leave sockets open and the file hanging
    t.after(stop)
    return { url, persistence, stop }
  }

  let node = await start()
  const subscriber = await mqtt.connectAsync(node.url, { clientId: 'grace/phone', clean: false, reconnectPeriod: 0 })
  await subscriber.subscribeAsync('q/#', { qos: 2 })
  await subscriber.endAsync()

  const publisher = await mqtt.connectAsync(node.url, { clientId: 'henry', reconnectPeriod: 0 })
  await publisher.publishAsync('q/1', 'one', { qos: 1 })
  await publisher.publishAsync('q/2', Buffer.from([0, 1, 2]), { qos: 2 })
  await publisher.publishAsync('q/3', '', { qos: 1 })
  await publisher.endAsync()
  assert.equal(await node.persistence.queueLength({ id: 'grace/phone' }), 3)
  await node.stop()

  node = await start()
  const received: string[] = []
  const back = mqtt.connect(node.url, { clientId: 'grace/phone', clean: false, reconnectPeriod: 0 })
  t.after(() => back.endAsync(true))
  const all = new Promise<void>(resolve => {
    back.on('message', (topic, payload, packet) => {
      received.push(`${topic} ${payload.toString('hex')} qos${packet.qos}`)
      if (received.length === 3) resolve()
    })
  })
  const connack = await new Promise<{ sessionPresent: boolean }>(resolve => back.once('connect', resolve))
  assert.equal(connack.sessionPresent, true, 'the session was restored')
  await all
  // sorted: mqtt.js emits a QoS 2 message only at PUBREL, after later QoS 1 ones
  assert.deepEqual(received.sort(), ['q/1 6f6e65 qos1', 'q/2 000102 qos2', 'q/3  qos1'])
  await back.endAsync()
  assert.equal(await node.persistence.queueLength({ id: 'grace/phone' }), 0, 'acknowledged messages leave the queue')
})
