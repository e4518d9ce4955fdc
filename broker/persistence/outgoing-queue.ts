import { Readable } from 'node:stream'
import packetConstructor from 'aedes-packet'
import { HailError, NotFoundError, StoreError } from '../errors.js'
import { clientKey, clientRange } from './client-key.js'
import type { LevelDatabase } from './group-commit.js'
import { InFlight } from './in-flight.js'
import { KeyedLock } from './keyed-lock.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'
import { brokerKey, brokerKeyOf, droppedKey, formatNumber, isQoS1Publish, messageIdKey, SEQ_DIGITS } from './queue-keys.js'

export interface OutgoingQueueOptions {
  /** Packets kept per client; more are dropped. */
  maxQueue: number
  /** Told of every packet dropped because the client's queue was full. */
  onQueueFull?: (clientId: string) => void
  /** Whether the client is connected now (aedes' broker.clients). */
  isConnected?: (clientId: string) => boolean
}

interface ClientState {
  /** Packets stored for the client, exact. */
  count: number
  nextSeq: number
}

/** Operations on the queue's sublevels, written in one batch. */
type Batch = Array<{ db: LevelDatabase, type: 'put', key: string, value: string | Buffer } | { db: LevelDatabase, type: 'del', key: string }>

// aedes-packet's typings describe a namespace; at runtime it is the constructor
const Packet = packetConstructor as unknown as new (original: StoredPacket) => StoredPacket
const UTF8 = 'utf8'
const BUFFER = 'buffer'
/** Queued packets read from the store at a time while a queue is streamed. */
const READ_BATCH = 512
/** Outstanding QoS 1 messageIds remembered, over all clients (see InFlight). */
const MAX_IN_FLIGHT = 200_000
/** Streamed packets whose seq is remembered per client until aedes sends them. */
const MAX_LOCATED = 10_000

/**
 * The per-client queues of packets owed to persistent sessions: publishes not
 * yet acknowledged (queued offline or in flight) and PUBRELs of QoS 2
 * deliveries. A queue is kept in arrival order under `<client>:<seq>`, with
 * two indexes aedes needs: by (brokerId, brokerCounter), to give a queued
 * packet its messageId when it is sent, and by messageId, for PUBACK, PUBREC
 * and PUBCOMP. A record and its index entries always change in one batch.
 *
 * Each queue holds at most `maxQueue` packets; newer ones are dropped, as
 * Mosquitto's max_queued_messages does. Counts live in memory, read from the
 * keys the first time a client is touched; operations on one client run one
 * at a time so they stay exact.
 */
export class OutgoingQueue {
  readonly #db: LevelDatabase
  readonly #queue: LevelDatabase
  readonly #byBroker: LevelDatabase
  readonly #byMessageId: LevelDatabase
  readonly #options: OutgoingQueueOptions
  readonly #lock = new KeyedLock()
  readonly #states = new Map<string, ClientState>()
  /**
   * Packets dropped for clients that were connected: aedes still sends those
   * live and then updates and clears them, which must not fail (a failed
   * update disconnects the client). Entries are `b<brokerId>:<counter>` until
   * the packet gets its messageId, then `m<messageId>`.
   */
  readonly #dropped = new Map<string, Set<string>>()
  /** QoS 1 publishes sent and not yet acknowledged, by messageId (memory only). */
  readonly #inFlight = new InFlight(MAX_IN_FLIGHT)
  /**
   * Seqs of packets just streamed, by
   * `b<brokerId>:<counter>`, so that the update which follows finds its
   * packet without reading the index.
   */
  readonly #located = new Map<string, Map<string, string>>()
  /** Deletes of acknowledged packets, written together (see #deleteSoon). */
  #deletes: Array<{ type: 'del', key: string, sublevel: LevelDatabase, keyEncoding: string }> = []
  #deleted: Promise<void> | undefined

  constructor (db: LevelDatabase, options: OutgoingQueueOptions) {
    this.#db = db
    this.#queue = db.sublevel('q')
    this.#byBroker = db.sublevel('b')
    this.#byMessageId = db.sublevel('m')
    this.#options = options
  }

  /** Queues `packet` once for each distinct client of `clientIds`. */
  async enqueue (clientIds: string[], packet: StoredPacket): Promise<void> {
    // A client whose filters overlap matches once per filter; one copy is
    // enough, and two with the same broker counter would share an index key.
    const distinct = new Set(clientIds)
    await Promise.all([...distinct].map(id => this.#withState(id, state => this.#enqueueOne(id, state, packet))))
  }

  /**
   * Records the messageId a queued publish was sent with, or replaces a
   * packet found by messageId (publish to PUBREL). Throws NotFoundError if
   * the client has no such packet.
   */
  update (clientId: string, packet: StoredPacket): Promise<void> {
    return this.#withState(clientId, async () => {
      const messageId = packet.messageId
      if (typeof packet.brokerId === 'string' && packet.brokerId !== '') {
        const seq = this.#takeLocated(clientId, droppedKey(packet)) ??
          await this.#get(this.#byBroker, brokerKey(clientId, packet.brokerId, packet.brokerCounter))
        if (seq !== undefined && isQoS1Publish(packet) && typeof messageId === 'number') {
          // the messageId is kept in memory only: see InFlight
          this.#inFlight.set(clientId, messageId, seq, InFlight.copyOf(packet))
          return
        }
        // a durable messageId (QoS 2) replaces any QoS 1 use of it kept in memory
        if (typeof messageId === 'number') this.#inFlight.take(clientId, messageId)
        if (seq !== undefined && await this.#assignMessageId(clientId, seq, messageId)) return
        if (this.#forgetDropped(clientId, droppedKey(packet))) {
          if (typeof messageId === 'number') this.#rememberDropped(clientId, 'm' + messageId)
          return
        }
      }
      // aedes rebuilds a stored PUBREL with a fresh brokerCounter when it
      // resends it, so anything not found above is looked up by messageId
      if (typeof messageId === 'number') {
        const seq = await this.#get(this.#byMessageId, messageIdKey(clientId, messageId))
        if (seq !== undefined && await this.#replace(clientId, seq, packet)) return
        if (this.#dropped.get(clientId)?.has('m' + messageId) === true) return
      }
      throw new NotFoundError(`client ${clientId} has no queued packet with messageId ${String(messageId)}`)
    })
  }

  /** Removes and returns the packet sent with `messageId`, if there is one. */
  async clear (clientId: string, messageId: unknown): Promise<StoredPacket | undefined> {
    if (typeof messageId !== 'number') return undefined
    const fast = await this.#withState(clientId, async state => {
      const sent = this.#inFlight.take(clientId, messageId)
      if (sent === undefined) return undefined
      this.#deletes.push({ type: 'del', key: clientKey(clientId) + sent.ref, sublevel: this.#queue, keyEncoding: UTF8 })
      const indexKey = sent.packet === undefined ? undefined : brokerKeyOf(clientId, sent.packet)
      if (indexKey !== undefined) this.#deletes.push({ type: 'del', key: indexKey, sublevel: this.#byBroker, keyEncoding: UTF8 })
      state.count--
      // not awaited under the lock, so the PUBACKs of a drain share writes
      return { packet: sent.packet, written: this.#deleteSoon() }
    })
    if (fast !== undefined) {
      await fast.written
      return fast.packet
    }
    return await this.#withState(clientId, async state => {
      const idKey = messageIdKey(clientId, messageId)
      const seq = await this.#get(this.#byMessageId, idKey)
      if (seq === undefined) {
        this.#forgetDropped(clientId, 'm' + messageId)
        return undefined
      }
      const record = await this.#record(clientId, seq)
      const ops: Batch = [{ db: this.#byMessageId, type: 'del', key: idKey }]
      if (record !== undefined) {
        ops.push({ db: this.#queue, type: 'del', key: clientKey(clientId) + seq })
        const indexKey = brokerKeyOf(clientId, record)
        if (indexKey !== undefined) ops.push({ db: this.#byBroker, type: 'del', key: indexKey })
      }
      await this.#write(ops)
      if (record !== undefined) state.count--
      return record
    })
  }

  /** Drops the client's whole queue, in one batch. */
  wipe (clientId: string): Promise<void> {
    return this.#withState(clientId, async state => {
      const range = { ...clientRange(clientId), keyEncoding: UTF8 }
      const ops: Batch = []
      for (const db of [this.#queue, this.#byBroker, this.#byMessageId]) {
        for await (const key of db.keys(range)) ops.push({ db, type: 'del', key: key as string })
      }
      await this.#write(ops)
      state.count = 0
      this.#dropped.delete(clientId)
      this.#inFlight.forget(clientId)
      this.#located.delete(clientId)
    })
  }

  /** The client's queue in order; a snapshot taken when reading starts. */
  stream (clientId: string): Readable {
    const iterator = this.#queue.iterator({ ...clientRange(clientId), keyEncoding: UTF8, valueEncoding: BUFFER })
    this.#located.delete(clientId)
    let reading = false
    const readable: Readable = new Readable({
      objectMode: true,
      // as Readable.from's (aedes' conformance suite sizes a test by it); reads come in batches anyway
      highWaterMark: 1,
      read: () => {
        if (reading) return
        reading = true
        iterator.nextv(READ_BATCH).then((entries: Array<[string, Buffer]>) => {
          reading = false
          if (entries.length === 0) {
            readable.push(null)
            return
          }
          for (const [key, value] of entries) readable.push(this.#streamed(clientId, key.slice(-SEQ_DIGITS), value))
        }).catch((err: unknown) => readable.destroy(err as Error))
      },
      destroy: (err, callback) => {
        iterator.close().then(() => callback(err), () => callback(err))
      }
    })
    return readable
  }

  /** Packets stored for the client. */
  count (clientId: string): Promise<number> {
    return this.#withState(clientId, async state => state.count)
  }

  /** Resolves once every operation started so far has settled. */
  idle (): Promise<void> {
    return this.#lock.idle()
  }

  async #enqueueOne (clientId: string, state: ClientState, packet: StoredPacket): Promise<void> {
    if (state.count >= this.#options.maxQueue) {
      if (this.#options.isConnected?.(clientId) === true) this.#rememberDropped(clientId, droppedKey(packet))
      try {
        this.#options.onQueueFull?.(clientId)
      } catch {
        // a failing metrics hook must not fail the publish for every other subscriber
      }
      return
    }
    // as aedes' memory persistence: a fresh packet, without a messageId yet
    const record = new Packet(packet)
    const seq = formatNumber(state.nextSeq++, SEQ_DIGITS)
    const ops: Batch = [{ db: this.#queue, type: 'put', key: clientKey(clientId) + seq, value: packetCodec.encode(record) }]
    const indexKey = brokerKeyOf(clientId, record)
    if (indexKey !== undefined) ops.push({ db: this.#byBroker, type: 'put', key: indexKey, value: seq })
    state.count++
    try {
      await this.#write(ops)
    } catch (err) {
      state.count--
      throw err
    }
  }

  async #assignMessageId (clientId: string, seq: string, messageId: number | undefined): Promise<boolean> {
    const record = await this.#record(clientId, seq)
    if (record === undefined) return false
    const previous = record.messageId
    record.messageId = messageId
    const ops: Batch = [{ db: this.#queue, type: 'put', key: clientKey(clientId) + seq, value: packetCodec.encode(record) }]
    if (typeof previous === 'number' && previous !== messageId) {
      const oldKey = messageIdKey(clientId, previous)
      // the old messageId may point at a newer packet by now
      if (await this.#get(this.#byMessageId, oldKey) === seq) {
        ops.push({ db: this.#byMessageId, type: 'del', key: oldKey })
      }
    }
    if (typeof messageId === 'number') {
      ops.push({ db: this.#byMessageId, type: 'put', key: messageIdKey(clientId, messageId), value: seq })
    }
    await this.#write(ops)
    return true
  }

  async #replace (clientId: string, seq: string, packet: StoredPacket): Promise<boolean> {
    const record = await this.#record(clientId, seq)
    if (record === undefined) return false
    const ops: Batch = [{ db: this.#queue, type: 'put', key: clientKey(clientId) + seq, value: packetCodec.encode({ ...packet }) }]
    const oldIndex = brokerKeyOf(clientId, record)
    const newIndex = brokerKeyOf(clientId, packet)
    if (oldIndex !== undefined && oldIndex !== newIndex) ops.push({ db: this.#byBroker, type: 'del', key: oldIndex })
    if (newIndex !== undefined) ops.push({ db: this.#byBroker, type: 'put', key: newIndex, value: seq })
    await this.#write(ops)
    return true
  }

  /** A streamed packet, with the messageId it is outstanding under, remembered for its update. */
  #streamed (clientId: string, seq: string, value: Buffer): StoredPacket {
    const packet = packetCodec.decode(value)
    const messageId = this.#inFlight.idOf(clientId, seq)
    if (messageId !== undefined) packet.messageId = messageId
    if (typeof packet.brokerId === 'string' && packet.brokerId !== '') this.#locate(clientId, droppedKey(packet), seq)
    return packet
  }

  #locate (clientId: string, ref: string, seq: string): void {
    let located = this.#located.get(clientId)
    if (located === undefined) {
      located = new Map()
      this.#located.set(clientId, located)
    }
    located.set(ref, seq)
    if (located.size > MAX_LOCATED) located.delete(located.keys().next().value as string)
  }

  #takeLocated (clientId: string, ref: string): string | undefined {
    const located = this.#located.get(clientId)
    const seq = located?.get(ref)
    if (located === undefined || seq === undefined) return undefined
    located.delete(ref)
    if (located.size === 0) this.#located.delete(clientId)
    return seq
  }

  /**
   * Writes the deletes queued in #deletes with the others of the moment in one batch. A PUBACK's
   * delete that a crash loses only sends that message again.
   */
  #deleteSoon (): Promise<void> {
    this.#deleted ??= new Promise<void>(resolve => setImmediate(resolve)).then(async () => {
      const batch = this.#deletes
      this.#deletes = []
      this.#deleted = undefined
      try {
        await this.#db.batch(batch as never)
      } catch (cause) {
        throw new StoreError('could not write the outgoing queue', { cause })
      }
    })
    return this.#deleted
  }

  async #record (clientId: string, seq: string): Promise<StoredPacket | undefined> {
    const value = await this.#queue.get(clientKey(clientId) + seq, { keyEncoding: UTF8, valueEncoding: BUFFER })
    return value === undefined ? undefined : packetCodec.decode(value as Buffer)
  }

  async #get (db: LevelDatabase, key: string): Promise<string | undefined> {
    return await db.get(key, { keyEncoding: UTF8, valueEncoding: UTF8 }) as string | undefined
  }

  /**
   * Runs `task` under the client's lock with its state, read from the keys
   * the first time; an empty queue's state is forgotten afterwards, so idle
   * clients cost no memory.
   */
  #withState<T> (clientId: string, task: (state: ClientState) => Promise<T>): Promise<T> {
    return this.#lock.run(clientId, async () => {
      let state: ClientState | undefined
      try {
        state = this.#states.get(clientId) ?? await this.#load(clientId)
        return await task(state)
      } catch (cause) {
        throw cause instanceof HailError ? cause : new StoreError(`could not read the queue of client ${clientId}`, { cause })
      } finally {
        if (state?.count === 0 && !this.#dropped.has(clientId)) this.#states.delete(clientId)
      }
    })
  }

  /** Counts the client's stored packets and finds where its seqs left off. */
  async #load (clientId: string): Promise<ClientState> {
    let count = 0
    let last = -1
    for await (const key of this.#queue.keys({ ...clientRange(clientId), keyEncoding: UTF8 })) {
      count++
      last = Number((key as string).slice(-SEQ_DIGITS))
    }
    const state = { count, nextSeq: last + 1 }
    this.#states.set(clientId, state)
    return state
  }

  #rememberDropped (clientId: string, entry: string): void {
    let dropped = this.#dropped.get(clientId)
    if (dropped === undefined) {
      dropped = new Set()
      this.#dropped.set(clientId, dropped)
    }
    dropped.add(entry)
    // bounded: a client that never acknowledges must not grow this forever
    if (dropped.size > this.#options.maxQueue) {
      dropped.delete(dropped.values().next().value as string)
    }
  }

  #forgetDropped (clientId: string, entry: string): boolean {
    const dropped = this.#dropped.get(clientId)
    if (dropped === undefined || !dropped.delete(entry)) return false
    if (dropped.size === 0) this.#dropped.delete(clientId)
    return true
  }

  async #write (ops: Batch): Promise<void> {
    if (ops.length === 0) return
    try {
      await this.#db.batch(ops.map(({ db, ...op }) => ({
        ...op,
        sublevel: db,
        keyEncoding: UTF8,
        valueEncoding: op.type === 'put' && typeof op.value === 'string' ? UTF8 : BUFFER
      })) as never)
    } catch (cause) {
      throw new StoreError('could not write the outgoing queue', { cause })
    }
  }
}
