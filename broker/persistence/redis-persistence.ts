import { Readable } from 'node:stream'
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'
import packetConstructor from 'aedes-packet'
import type { Redis } from 'ioredis'
import { InFlight } from './in-flight.js'
import { redisPacketCodec as codec } from './redis-packet-codec.js'
import { RedisDrainHandovers } from './redis-drain-handover.js'
import type { ClientRef, MqttPersistence } from './mqtt-persistence.js'

export interface RedisPersistenceOptions {
  /** Packets queued per client before newer ones are dropped (default 1000), as in LevelPersistence. */
  maxQueue?: number
  /** Told of every packet dropped because a client's queue was full. */
  onQueueFull?: (clientId: string) => void
}

interface QueuedPacket {
  brokerId: string
  brokerCounter: number | string
  messageId?: number
  cmd?: string
  [key: string]: unknown
}

const DEFAULT_MAX_QUEUE = 1000
/** Queued packets read per MGET while a session's queue is delivered. */
const READ_BATCH = 1000
/** Message ids remembered between delivery and PUBACK, per process (as aedes-persistence-redis' own cache). */
const MAX_IN_FLIGHT = 200_000

// aedes-packet's typings describe a namespace; at runtime it is the constructor
const Packet = packetConstructor as unknown as new (original: object) => object

// Key names of aedes-persistence-redis 12, which this class shares the data of.
const outgoingKey = (clientId: string): string => `outgoing:${encodeURIComponent(clientId)}`
const PACKET_PREFIX = 'packet:'
const packetKey = (brokerId: string, counter: number | string): string => `${PACKET_PREFIX}${brokerId}:${counter}`
const countKey = (brokerId: string, counter: number | string): string => `packet:${brokerId}:${counter}:offlineCount`
const willKey = (brokerId: string, clientId: string): string => `will:${brokerId}:${encodeURIComponent(clientId)}`
const WILLS = 'will'
/** aedes-persistence-redis 12 keeps retained messages in one hash, and the ids of clients with subscriptions in one set. */
const RETAINED = 'retained'
const CLIENTS = 'clients'
/** Client ids read per SSCAN, and queue lengths asked per pipeline, while counting queued packets. */
const COUNT_BATCH = 1000

/**
 * KEYS: packet, its count, then one queue per subscriber; ARGV: encoded
 * packet, maxQueue. Appends the packet's key to every queue that has room,
 * stores the packet once if any had, and returns the (1-based) positions of
 * the subscribers whose queue was full. One script, so one AOF write.
 */
const ENQUEUE = `
local full = {}
local queued = 0
for i = 3, #KEYS do
  if redis.call('LLEN', KEYS[i]) < tonumber(ARGV[2]) then
    redis.call('RPUSH', KEYS[i], KEYS[1])
    queued = queued + 1
  else
    full[#full + 1] = i - 2
  end
end
if queued > 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('INCRBY', KEYS[2], queued)
end
return full`

/**
 * KEYS: for each acknowledgement four, the client's copy (the packet itself
 * for QoS 1, its PUBREL state for QoS 2), the packet, its count, the client's
 * queue. Removes each copy from its queue, searching from the head, where
 * acknowledged messages are, and stopping at the first match; drops a packet
 * with its last reference. Returns each copy as it was (false if gone), in
 * one reply: the PUBACKs of a drain cost one script call per batch.
 */
const CLEAR = `
local copies = {}
for i = 1, #KEYS, 4 do
  local copy = redis.call('GET', KEYS[i])
  if KEYS[i] ~= KEYS[i + 1] then redis.call('DEL', KEYS[i]) end
  redis.call('LREM', KEYS[i + 3], 1, KEYS[i])
  if redis.call('EXISTS', KEYS[i + 2]) == 1 and redis.call('DECR', KEYS[i + 2]) <= 0 then
    redis.call('DEL', KEYS[i + 1], KEYS[i + 2])
  end
  copies[#copies + 1] = copy
end
return copies`

/** Acknowledgements cleared per script call at most. */
const CLEAR_BATCH = 1000

interface PendingClear {
  keys: string[]
  resolve: (copy: Buffer | null) => void
  reject: (err: unknown) => void
}

/**
 * aedes-persistence-redis 12, with its offline queue made fit for a user who
 * comes back after a weekend (same keys and data, so nodes share them):
 *
 * - The whole queue is delivered in one connection: the original reads only
 *   its first 1,001 entries (`maxSessionDelivery`) and one GET per entry;
 *   this reads the list once and the packets in MGET batches.
 * - A PUBACK removes its entry with one script that stops at the first
 *   match near the head of the queue; the original runs LREM over the whole
 *   queue (count 0) and four round trips, so draining 100k messages was
 *   quadratic. The PUBACKs of one turn of the event loop share one call.
 * - Sending a QoS 1 packet writes nothing: its messageId is kept in memory
 *   (InFlight), where the original rewrites the packet in Redis.
 * - Queues are bounded by `maxQueue`, as LevelPersistence's are, and an
 *   enqueue is one atomic script.
 * - Wills are written without the original's unawaited commands, whose
 *   rejections would crash the process while Redis is down.
 * - Retained messages come as a Readable, which aedes 1.2 pipes.
 *
 * Subscriptions, retained messages, QoS 2 incoming state and wills are the
 * original's (it keeps subscriptions in a trie loaded at setup and kept in
 * step across nodes through the emitter).
 */
export class RedisPersistence extends AsyncRedisPersistence implements MqttPersistence {
  readonly #redis: Redis
  readonly #maxQueue: number
  readonly #onQueueFull: ((clientId: string) => void) | undefined
  /** messageId → the key of the client's copy (and the QoS 1 packet as sent), from delivery to PUBACK. */
  readonly #inFlight = new InFlight(MAX_IN_FLIGHT)
  /** Subscription changes in flight, by what, client and list (see addSubscriptions). */
  readonly #pending = new Map<string, Promise<void>>()
  /** Acknowledgements waiting for the next CLEAR call (see #clear). */
  #clears: PendingClear[] = []
  /** Persistent sessions taking over their queue; broker/wire/delivery-dedupe.ts asks it of live copies. */
  readonly drainHandovers = new RedisDrainHandovers()
  /** Awaited before each drain reads a queue (MqttPersistence.beforeDrain). */
  #beforeDrain: (() => Promise<void>) | undefined

  /** `redis` becomes this persistence's own: destroy() disconnects it. */
  constructor (redis: Redis, options: RedisPersistenceOptions = {}) {
    super({ conn: redis })
    this.#redis = redis
    this.#maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE
    this.#onQueueFull = options.onQueueFull
    redis.defineCommand('hailEnqueue', { lua: ENQUEUE })
    redis.defineCommand('hailClear', { lua: CLEAR })
  }

  /**
   * aedes 1.2 stores a SUBSCRIBE once per topic, each time with the whole
   * list; the original awaits its cross-node echo keyed by (client, first
   * topic), so the second of two concurrent identical calls replaces the first
   * one's waiter and that SUBACK never goes out. Identical calls in flight
   * share one promise.
   */
  override async addSubscriptions (client: ClientRef, subs: Array<{ topic: string, qos: number }>): Promise<void> {
    await this.#coalesce('add', client, subs, async () => { await super.addSubscriptions(client, subs) })
  }

  override async removeSubscriptions (client: ClientRef, subs: string[]): Promise<void> {
    await this.#coalesce('remove', client, subs, async () => { await super.removeSubscriptions(client, subs) })
  }

  async #coalesce (what: string, client: ClientRef, subs: unknown, run: () => Promise<void>): Promise<void> {
    const key = `${what}\0${client.id}\0${JSON.stringify(subs)}`
    let pending = this.#pending.get(key)
    if (pending === undefined) {
      pending = run().finally(() => this.#pending.delete(key))
      this.#pending.set(key, pending)
    }
    await pending
  }

  override async outgoingEnqueueCombi (subs: Array<{ clientId: string }>, packet: QueuedPacket): Promise<void> {
    if (subs === undefined || subs.length === 0) return
    const { brokerId, brokerCounter } = packet
    const keys = [packetKey(brokerId, brokerCounter), countKey(brokerId, brokerCounter), ...subs.map((s) => outgoingKey(s.clientId))]
    const encoded = codec.encode(new Packet(packet))
    const full = await (this.#redis as unknown as HailCommands).hailEnqueue(keys.length, ...keys, encoded, this.#maxQueue)
    for (const position of full) this.#onQueueFull?.(subs[position - 1].clientId)
  }

  async outgoingEnqueue (sub: { clientId: string }, packet: QueuedPacket): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet)
  }

  override async outgoingUpdate (client: ClientRef, packet: QueuedPacket): Promise<void> {
    if (packet.cmd !== 'pubrel' && packet.qos === 1 && packet.brokerId !== undefined) {
      // QoS 1: the messageId is kept in memory only (see InFlight); the
      // original rewrites the whole packet, a round trip and an encode per
      // message of a drain. The packet stays queued until its PUBACK.
      if (typeof packet.messageId === 'number') {
        this.#inFlight.set(client.id, packet.messageId, packetKey(packet.brokerId, packet.brokerCounter), InFlight.copyOf(packet))
      }
      return
    }
    await super.outgoingUpdate(client, packet)
    // the original's update fills in brokerId and brokerCounter of a PUBREL
    const { brokerId, brokerCounter } = packet
    const copy = packet.cmd === 'pubrel'
      ? `${outgoingKey(client.id)}:${brokerId}:${brokerCounter}`
      : packetKey(brokerId, brokerCounter)
    if (typeof packet.messageId === 'number') this.#inFlight.set(client.id, packet.messageId, copy)
  }

  override async outgoingClearMessageId (client: ClientRef, packet: { messageId?: number }): Promise<QueuedPacket | undefined> {
    if (typeof packet.messageId !== 'number') return undefined
    const sent = this.#inFlight.take(client.id, packet.messageId)
    if (sent === undefined) return undefined
    const copy = sent.ref
    const [brokerId, brokerCounter] = copy.split(':').slice(-2)
    const encoded = await this.#clear([copy, packetKey(brokerId, brokerCounter), countKey(brokerId, brokerCounter), outgoingKey(client.id)])
    if (encoded === null) return undefined
    if (sent.packet !== undefined) return sent.packet as QueuedPacket
    const original = codec.decode(encoded) as QueuedPacket
    original.messageId = packet.messageId
    return original
  }

  /** Runs the CLEAR script for `keys` together with the other acknowledgements of this turn of the event loop. */
  #clear (keys: string[]): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      this.#clears.push({ keys, resolve, reject })
      if (this.#clears.length === 1) setImmediate(() => { this.#flushClears() })
    })
  }

  #flushClears (): void {
    const all = this.#clears
    this.#clears = []
    for (let start = 0; start < all.length; start += CLEAR_BATCH) {
      const batch = all.slice(start, start + CLEAR_BATCH)
      const keys = batch.flatMap((pending) => pending.keys)
      ;(this.#redis as unknown as HailCommands).hailClearBuffer(keys.length, ...keys).then((copies) => {
        for (let i = 0; i < batch.length; i++) batch[i].resolve(copies[i] ?? null)
      }, (err: unknown) => {
        for (const pending of batch) pending.reject(err)
      })
    }
  }

  /** Retained messages stored, cluster-wide (one HLEN). */
  async retainedCount (): Promise<number> {
    return await this.#redis.hlen(RETAINED)
  }

  /**
   * Entries in the outgoing queues of the clients that hold subscriptions,
   * cluster-wide: read when asked (an SSCAN of the client set and an LLEN
   * per client, pipelined), never per publish. A queue whose client
   * dropped every subscription is not counted; an entry whose packet
   * expired counts until a drain reads it.
   */
  async queuedCount (): Promise<number> {
    let total = 0
    let cursor = '0'
    // SSCAN may return an id more than once
    const seen = new Set<string>()
    do {
      const [next, found] = await this.#redis.sscan(CLIENTS, cursor, 'COUNT', COUNT_BATCH)
      cursor = next
      const ids = found.filter((id) => !seen.has(id))
      for (const id of ids) seen.add(id)
      if (ids.length === 0) continue
      const pipeline = this.#redis.pipeline()
      for (const id of ids) pipeline.llen(outgoingKey(id))
      for (const [err, length] of await pipeline.exec() ?? []) {
        if (err !== null) throw err
        total += length as number
      }
    } while (cursor !== '0')
    return total
  }

  /** A Readable: aedes 1.2 pipes it (the original returns an async generator, which has no pipe()). */
  override createRetainedStreamCombi (patterns: string[]): Readable {
    return Readable.from(super.createRetainedStreamCombi(patterns))
  }

  override createRetainedStream (pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern])
  }

  beforeDrain (hook: () => Promise<void>): void {
    this.#beforeDrain = hook
  }

  /** A persistent session's CONNECT begins here (aedes' fetchSubs): its drain takes over the queue. */
  override async subscriptionsByClient (client: ClientRef): Promise<Array<{ topic: string, qos: number }>> {
    this.drainHandovers.connecting(client.id)
    return await super.subscriptionsByClient(client)
  }

  /**
   * A Readable, as aedes' conformance suite wants one (it reads its high-water
   * mark). For a CONNECT that began here, reads the queue again until a read
   * finds nothing new and no live copy was dropped meanwhile (see
   * RedisDrainHandovers); otherwise one snapshot.
   */
  override outgoingStream (client: ClientRef): Readable {
    const redis = this.#redis
    const inFlight = this.#inFlight
    const handovers = this.drainHandovers
    const handover = handovers.draining(client.id)
    const listKey = outgoingKey(client.id)
    const beforeDrain = this.#beforeDrain
    let sent = new Set<string>()
    let caughtUp = false
    async function * read (keys: string[]): AsyncGenerator<QueuedPacket> {
      for (let start = 0; start < keys.length; start += READ_BATCH) {
        const batch = keys.slice(start, start + READ_BATCH)
        const values = await redis.mgetBuffer(...batch)
        const gone: string[] = []
        for (let i = 0; i < batch.length; i++) {
          const value = values[i]
          sent.add(batch[i])
          if (value === null) {
            gone.push(batch[i])
            continue
          }
          const packet = codec.decode(value) as QueuedPacket
          // the messageId it is outstanding under, if sent (QoS 1 ids are kept in memory)
          const messageId = inFlight.idOf(client.id, batch[i])
          if (messageId !== undefined) packet.messageId = messageId
          handover?.remember(batch[i].slice(PACKET_PREFIX.length))
          yield packet
        }
        // entries whose packet has expired or was cleared elsewhere
        for (const key of gone) await redis.lrem(listKey, 0, key)
      }
    }
    return Readable.from((async function * queued () {
      try {
        if (beforeDrain !== undefined) await beforeDrain()
        for (;;) {
          const drops = handover?.drops ?? 0
          const listed = await redis.lrange(listKey, 0, -1)
          // an entry once gone from the list never comes back: forget those, so a drain that
          // runs for long under traffic (a redelivery) remembers only what is still queued
          if (sent.size > 2 * listed.length + READ_BATCH) sent = new Set(listed.filter((key) => sent.has(key)))
          const fresh = listed.filter((key) => !sent.has(key))
          if (fresh.length === 0 && (handover === undefined || handover.drops === drops)) break
          yield * read(fresh)
          if (handover === undefined) break
        }
        if (handover !== undefined) {
          caughtUp = true
          handovers.caughtUp(client.id, handover)
        }
      } finally {
        if (handover !== undefined && !caughtUp) handovers.ended(client.id, handover)
      }
    })())
  }

  /**
   * Sends a connected persistent client what its queue holds and this
   * connection was never sent: copies emitted while this node's emitter
   * subscriber was reconnecting reached no one here, and were waiting in the
   * queue for a reconnect that may never come (issue 18). Live copies wait
   * meanwhile as at a CONNECT (RedisDrainHandovers); copies in flight on the
   * connection (a messageId) are left to their PUBACK. Resolves with how
   * many were sent.
   */
  async redeliver (client: ClientRef & { deliverQoS: (packet: object, done: () => void) => void }): Promise<number> {
    const handover = this.drainHandovers.connecting(client.id)
    let sent = 0
    for await (const packet of this.outgoingStream(client) as AsyncIterable<QueuedPacket>) {
      if (typeof packet.messageId === 'number') continue
      // the live path asks takeLive() at once, before aedes' own deferral
      handover.passing = `${packet.brokerId}:${String(packet.brokerCounter)}`
      const delivered = new Promise<void>((resolve) => { client.deliverQoS(packet, resolve) })
      handover.passing = undefined
      await delivered
      sent++
    }
    return sent
  }

  override async putWill (client: ClientRef, packet: Record<string, unknown>): Promise<void> {
    const brokerId = this.broker!.id
    const key = willKey(brokerId, client.id)
    packet.clientId = client.id
    packet.brokerId = brokerId
    const replies = await this.#redis.multi()
      .lrem(WILLS, 0, key)
      .rpush(WILLS, key)
      .set(key, codec.encode(packet))
      .exec()
    const failed = replies?.find(([err]) => err !== null)
    if (failed !== undefined) throw failed[0]
  }

  override async delWill (client: ClientRef & { brokerId?: string }): Promise<unknown> {
    const key = willKey(client.brokerId ?? this.broker!.id, client.id)
    const replies = await this.#redis.multi()
      .lrem(WILLS, 0, key)
      .getBuffer(key)
      .del(key)
      .exec()
    const failed = replies?.find(([err]) => err !== null)
    if (failed !== undefined) throw failed[0]
    const encoded = replies?.[1][1] as Buffer | null | undefined
    return encoded == null ? null : codec.decode(encoded)
  }
}

interface HailCommands {
  hailEnqueue: (numberOfKeys: number, ...args: Array<string | Buffer | number>) => Promise<number[]>
  hailClearBuffer: (numberOfKeys: number, ...keys: string[]) => Promise<Array<Buffer | null>>
}
