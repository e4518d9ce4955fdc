import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import packetConstructor from 'aedes-packet'
import { Level } from 'level'
import { LevelPersistence } from '../../../broker/persistence/level-persistence.js'
import { copyCost, LiveBudget, liveOutgoing } from '../../../broker/persistence/live-outgoing.js'
import type { StoredPacket } from '../../../broker/persistence/packet-codec.js'

interface FakeBroker { id: string, counter: number, clients: Record<string, unknown> }

// aedes-packet's typings describe a namespace; at runtime it is the constructor
const Packet = packetConstructor as unknown as new (original: object, broker: FakeBroker) => StoredPacket

/** Packets whose topic starts with "live/" may skip the store. */
const isLive = (packet: StoredPacket): boolean => packet.topic?.startsWith('live/') === true

async function open (t: Tap.Test, dir?: string) {
  dir ??= await mkdtemp(join(tmpdir(), 'hail-live-outgoing-'))
  const broker: FakeBroker = { id: 'broker-1', counter: 0, clients: {} }
  const store = new LevelPersistence(new Level(dir), { ownsDb: true })
  const kept: string[] = []
  const p = liveOutgoing(store, { live: isLive, maxPerClient: 3, onLive: (id) => kept.push(id) })
  await p.setup(broker)
  t.teardown(async () => {
    await p.destroy().catch(() => {})
  })
  return { p, store, broker, dir, kept }
}

function publish (broker: FakeBroker, topic: string, payload: string): StoredPacket {
  return new Packet({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, broker)
}

async function collect (stream: AsyncIterable<unknown>): Promise<string[]> {
  const items: string[] = []
  for await (const item of stream) items.push(String((item as StoredPacket).payload))
  return items
}

/** What aedes does at CONNECT: register the client, then read (and send) its queue. */
async function connect (broker: FakeBroker, p: { outgoingStream: (c: { id: string }) => AsyncIterable<unknown> }, id: string): Promise<string[]> {
  broker.clients[id] = {}
  return await collect(p.outgoingStream({ id }))
}

t.test('a live packet for a connected client whose queue is empty stays in memory until its PUBACK', async (t) => {
  const { p, store, broker, kept } = await open(t)
  const client = { id: 'alice/phone' }
  t.same(await connect(broker, p, client.id), [], 'nothing queued at connect')

  const packet = publish(broker, 'live/alice', 'hello')
  await p.outgoingEnqueueCombi([{ clientId: client.id }, { clientId: client.id }], packet)
  t.same(kept, ['alice/phone'], 'kept in memory, once despite two matching filters')
  t.equal(await store.queueLength(client), 0, 'nothing written to the store')
  t.equal(await p.queueLength(client), 1, 'but counted as queued')

  // aedes sends it live: messageId assigned, then PUBACK
  await p.outgoingUpdate(client, { ...packet, messageId: 7 })
  const acked = await p.outgoingClearMessageId(client, { messageId: 7 } as StoredPacket)
  t.equal(String(acked?.payload), 'hello', 'the PUBACK returns the packet (receipts read it)')
  t.equal(acked?.topic, 'live/alice')
  t.equal(await p.queueLength(client), 0)
  t.same(await collect(p.outgoingStream(client)), [], 'nothing left to resend')
})

t.test('an unacknowledged live packet is sent again at the next connection of this process', async (t) => {
  const { p, broker } = await open(t)
  const client = { id: 'bob/laptop' }
  await connect(broker, p, client.id)
  const packet = publish(broker, 'live/bob', 'm1')
  await p.outgoingEnqueueCombi([{ clientId: client.id }], packet)
  await p.outgoingUpdate(client, { ...packet, messageId: 1 })
  Reflect.deleteProperty(broker.clients, client.id) // the connection dropped before the PUBACK

  const again = await connect(broker, p, client.id)
  t.same(again, ['m1'], 'resent from memory')
  // aedes gives it a new messageId when resending; the old one no longer clears it
  await p.outgoingUpdate(client, { ...packet, messageId: 2 })
  t.equal(await p.outgoingClearMessageId(client, { messageId: 1 } as StoredPacket), undefined)
  t.equal(String((await p.outgoingClearMessageId(client, { messageId: 2 } as StoredPacket))?.payload), 'm1')
})

t.test('live packets take the store while the client is offline, before its queue was read, or when memory is full', async (t) => {
  const { p, store, broker, kept } = await open(t)
  const client = { id: 'carol/phone' }
  await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'live/carol', 'offline'))
  broker.clients[client.id] = {}
  await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'live/carol', 'connecting'))
  t.same(kept, [], 'not known to be empty yet: stored')
  t.equal(await store.queueLength(client), 2)

  t.same(await collect(p.outgoingStream(client)), ['offline', 'connecting'])
  await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'live/carol', 'behind-stored'))
  t.same(kept, [], 'stored live packets are pending: a new one goes behind them, in the store')
  t.equal(await store.queueLength(client), 3)
})

t.test('a client with nothing stored gets memory packets first, then stored ones, in arrival order', async (t) => {
  const { p, store, broker } = await open(t)
  const client = { id: 'dan/phone' }
  await connect(broker, p, client.id)
  await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'live/dan', 'a'))
  await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'other/dan', 'receipt'))
  await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'live/dan', 'b'))
  Reflect.deleteProperty(broker.clients, client.id)
  await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'live/dan', 'c'))
  t.equal(await store.queueLength(client), 2, 'the non-live packet and the one sent while offline are stored')
  t.same(await connect(broker, p, client.id), ['a', 'b', 'receipt', 'c'], 'live packets keep their order')
})

t.test('stored live packets acknowledged while the queue is read at CONNECT are counted out, so memory is used again', async (t) => {
  const { p, broker, kept } = await open(t)
  const client = { id: 'ivy/phone' }
  const a = publish(broker, 'live/ivy', 'a')
  const b = publish(broker, 'live/ivy', 'b')
  await p.outgoingEnqueueCombi([{ clientId: client.id }], a)
  await p.outgoingEnqueueCombi([{ clientId: client.id }], b)

  broker.clients[client.id] = {}
  const read = p.outgoingStream(client)[Symbol.asyncIterator]()
  t.equal(String((await read.next()).value.payload), 'a')
  // sent and acknowledged while the read goes on; a new one arrives meanwhile
  await p.outgoingUpdate(client, { ...a, messageId: 1 })
  t.equal(String((await p.outgoingClearMessageId(client, { messageId: 1 } as StoredPacket))?.payload), 'a')
  const c = publish(broker, 'live/ivy', 'c')
  await p.outgoingEnqueueCombi([{ clientId: client.id }], c)
  t.same(kept, [], 'stored: the read is not finished')
  const rest: string[] = []
  for (let next = await read.next(); next.done !== true; next = await read.next()) rest.push(String(next.value.payload))
  t.ok(rest[0] === 'b' && rest.every((m) => m === 'b' || m === 'c'), `the rest of the queue: ${rest.join(',')}`)

  const d = publish(broker, 'live/ivy', 'd')
  await p.outgoingEnqueueCombi([{ clientId: client.id }], d)
  t.same(kept, [], 'b and c are still stored: d goes behind them')
  for (const [messageId, packet] of [b, c, d].entries()) {
    await p.outgoingUpdate(client, { ...packet, messageId: messageId + 2 })
    await p.outgoingClearMessageId(client, { messageId: messageId + 2 } as StoredPacket)
  }
  await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'live/ivy', 'e'))
  t.same(kept, ['ivy/phone'], 'nothing live is stored any more: e stays in memory')
})

t.test('memory holds at most maxPerClient packets per client; the rest are stored behind them', async (t) => {
  const { p, store, broker } = await open(t)
  const client = { id: 'erin/phone' }
  await connect(broker, p, client.id)
  for (const m of ['1', '2', '3', '4', '5']) await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'live/erin', m))
  t.equal(await store.queueLength(client), 2)
  t.same(await collect(p.outgoingStream(client)), ['1', '2', '3', '4', '5'])
})

t.test('a clean session drops memory packets too', async (t) => {
  const { p, broker } = await open(t)
  const client = { id: 'fay/phone' }
  await connect(broker, p, client.id)
  await p.outgoingEnqueueCombi([{ clientId: client.id }], publish(broker, 'live/fay', 'x'))
  await p.cleanSubscriptions(client)
  t.equal(await p.queueLength(client), 0)
  t.same(await collect(p.outgoingStream(client)), [])
})

t.test('packets stored for an offline client survive a reopen; memory ones are what a crash loses', async (t) => {
  const first = await open(t)
  const client = { id: 'gus/phone' }
  await connect(first.broker, first.p, client.id)
  await first.p.outgoingEnqueueCombi([{ clientId: client.id }], publish(first.broker, 'live/gus', 'in-memory'))
  Reflect.deleteProperty(first.broker.clients, client.id)
  await first.p.outgoingEnqueueCombi([{ clientId: client.id }], publish(first.broker, 'live/gus', 'stored'))
  await first.p.destroy()

  const second = await open(t, first.dir)
  t.same(await connect(second.broker, second.p, client.id), ['stored'])
  await rm(first.dir, { recursive: true, force: true })
})

t.test('everything else passes through to the wrapped persistence', async (t) => {
  const { p, store, broker } = await open(t)
  t.equal(p.broker, store.broker, 'getters read the wrapped object')
  t.equal(p.broker, broker)
  await p.addSubscriptions({ id: 'hal/phone' }, [{ topic: 'live/hal', qos: 1 }])
  t.same((await p.subscriptionsByTopic('live/hal')).map((s) => s.clientId), ['hal/phone'])
})

t.test('the node-wide byte bound: copies past it take the store, in order, and PUBACKs free it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-live-outgoing-'))
  const broker: FakeBroker = { id: 'broker-1', counter: 0, clients: {} }
  const store = new LevelPersistence(new Level(dir), { ownsDb: true })
  const one = copyCost(publish(broker, 'live/x', 'm0'))
  const budget = new LiveBudget(one * 3) // three copies of one packet fit, not four
  const p = liveOutgoing(store, { live: isLive, maxPerClient: 100, budget })
  await p.setup(broker)
  t.teardown(async () => { await p.destroy().catch(() => {}) })
  const alice = { id: 'alice/phone' }
  const bob = { id: 'bob/phone' }
  await connect(broker, p, alice.id)
  await connect(broker, p, bob.id)

  const packets = ['m1', 'm2', 'm3'].map((text) => publish(broker, 'live/x', text))
  await p.outgoingEnqueueCombi([{ clientId: alice.id }, { clientId: bob.id }], packets[0])
  t.equal(budget.held, one * 2, 'two copies held')
  t.equal(budget.pressed(), false, 'under 80% of the bound: senders go on')
  await p.outgoingEnqueueCombi([{ clientId: alice.id }, { clientId: bob.id }], packets[1])
  t.equal(budget.held, one * 3, 'the third copy fits, the fourth does not')
  await new Promise((resolve) => setTimeout(resolve, 30)) // pressed() looks again at most every 20 ms
  t.equal(budget.pressed(), true, 'past 80% of the bound, held by connected clients: senders are to wait')
  t.equal(budget.spilled, 1)
  t.equal(await store.queueLength(bob), 1, 'bob\'s copy went to the store')
  await p.outgoingEnqueueCombi([{ clientId: alice.id }], packets[2])
  t.equal(budget.spilled, 2, 'still full')
  t.ok(budget.peak <= budget.maxBytes, 'never past the bound')

  // alice acknowledges m1: a copy's worth freed
  await p.outgoingUpdate(alice, { ...packets[0], messageId: 1 })
  t.equal(String((await p.outgoingClearMessageId(alice, { messageId: 1 } as StoredPacket))?.payload), 'm1')
  t.equal(budget.held, one * 2)
  // both reconnect: every message once, in order (memory first, then the store)
  Reflect.deleteProperty(broker.clients, alice.id)
  Reflect.deleteProperty(broker.clients, bob.id)
  await new Promise((resolve) => setTimeout(resolve, 30)) // pressed() looks again at most every 20 ms
  t.equal(budget.pressed(), false, 'what disconnected clients hold does not hold senders')
  t.same(await connect(broker, p, alice.id), ['m2', 'm3'])
  t.same(await connect(broker, p, bob.id), ['m1', 'm2'])
  await p.cleanSubscriptions(alice)
  await p.cleanSubscriptions(bob)
  t.equal(budget.held, 0, 'a clean session frees what it held')
  t.throws(() => new LiveBudget(0), RangeError)
})
