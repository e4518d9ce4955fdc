import { Readable } from 'node:stream'
import packetConstructor from 'aedes-packet'
import { HailError, NotFoundError, StoreError } from '../errors.js'
import { clientKey, clientRange } from './client-key.js'
import type { LevelDatabase } from '../storage/index.js'
import { DroppedPackets } from './dropped-packets.js'
import { KeyedLock } from '../storage/index.js'
import { del, OrderedWriter, put, type WriterOperation } from './ordered-writer.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'
import { QueueCache, type QueueCacheOptions } from './queue-cache.js'
import { brokerKey, brokerKeyOf, droppedKey, formatNumber, messageIdKey, SEQ_DIGITS } from './queue-keys.js'
import { deliveryKey, type DrainHooks } from './drain-handover.js'

export interface OutgoingQueueOptions {
  /** Packets kept per client; more are dropped. */
  maxQueue: number
  /** Told of every packet dropped because the client's queue was full. */
  onQueueFull?: (clientId: string) => void
  /** Whether the client is connected now (aedes' broker.clients). */
  isConnected?: (clientId: string) => boolean
  /** Bounds of the read cache (see QueueCache); defaults suit a server. */
  cache?: Partial<QueueCacheOptions>
  /** Told of each publish stored for a client, by `brokerId:brokerCounter` (see DrainHandovers). */
  onStored?: (clientId: string, key: string) => void
}

interface ClientState {
  /** Packets stored for the client, exact. */
  count: number
  nextSeq: number
}

/** What a task did under the client's lock, and its write landing. */
interface Outcome<T> {
  value: T
  landed?: Promise<void>
}

// aedes-packet's typings describe a namespace; at runtime it is the constructor
const Packet = packetConstructor as unknown as new (original: StoredPacket) => StoredPacket
const UTF8 = 'utf8'
const BUFFER = 'buffer'
/** Queued packets read from the store at a time while a queue is streamed. */
const READ_BATCH = 256
const MAX_EMPTY_STATES = 10_000
const DEFAULT_CACHE: QueueCacheOptions = { maxPerClient: 8192, maxEntries: 65536, maxBytes: 32 * 1024 * 1024 }

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
 *
 * Speed: an operation decides its batch under the client's lock from a
 * write-through cache (QueueCache: what a stream just read, what this class
 * just wrote), issues it to an OrderedWriter and releases the lock; batches
 * land in issue order, so a drain's updates and PUBACK deletes share writes
 * and what is on disk is always a state the queue passed through. Enqueue,
 * clear, wipe and every QoS 2 update resolve once their batch has landed; the
 * update that gives a QoS 1 publish its messageId resolves when issued (the
 * packet stays queued until its PUBACK is written, so a crash in between only
 * resends it, possibly under another messageId, as QoS 1 allows); those and
 * PUBACK deletes may linger up to a millisecond to share a batch. Reads the
 * cache cannot answer wait for the writes issued so far, then read the store.
 */
export class OutgoingQueue {
  readonly #queue: LevelDatabase
  readonly #byBroker: LevelDatabase
  readonly #byMessageId: LevelDatabase
  readonly #options: OutgoingQueueOptions
  readonly #lock = new KeyedLock()
  readonly #states = new Map<string, ClientState>()
  readonly #cache: QueueCache
  readonly #writer: OrderedWriter
  /** Bumped by every failed write: tasks that began before it must not write. */
  #generation = 0
  /** Packets dropped for connected clients, still sent live by aedes. */
  readonly #dropped: DroppedPackets
  /** Clients whose empty queue's state is kept, oldest first (see #keepOrForget). */
  readonly #empty = new Set<string>()
  /**
   * Packets stored across every client (hail_queued_packets): counted by
   * countAll(), then kept by each put and delete once its write landed (a
   * failed write fails every write behind it, so what did not land never
   * counts, and no store read is needed).
   */
  #total = 0

  constructor (db: LevelDatabase, options: OutgoingQueueOptions) {
    this.#queue = db.sublevel('q')
    this.#byBroker = db.sublevel('b')
    this.#byMessageId = db.sublevel('m')
    this.#options = options
    this.#dropped = new DroppedPackets(options.maxQueue)
    this.#cache = new QueueCache({ ...DEFAULT_CACHE, ...options.cache })
    this.#writer = new OrderedWriter(db, () => {
      // what was computed from the cache may not be on disk: start over from the store
      this.#generation++
      this.#cache.clear()
      this.#states.clear()
    })
  }

  /** Queues `packet` once for each distinct client of `clientIds`. */
  async enqueue (clientIds: string[], packet: StoredPacket): Promise<void> {
    // A client whose filters overlap matches once per filter; one copy is
    // enough, and two with the same broker counter would share an index key.
    const distinct = new Set(clientIds)
    await Promise.all([...distinct].map(id => this.#landed(this.#withState(id, (state, gen) => this.#enqueueOne(id, state, gen, packet)))))
  }

  /**
   * Records the messageId a queued publish was sent with, or replaces a
   * packet found by messageId (publish to PUBREL). Throws NotFoundError if
   * the client has no such packet.
   */
  update (clientId: string, packet: StoredPacket): Promise<void> {
    return this.#landed(this.#withState(clientId, async (_state, gen): Promise<Outcome<undefined>> => {
      const messageId = packet.messageId
      if (typeof packet.brokerId === 'string' && packet.brokerId !== '') {
        const seq = await this.#index(clientId, 'b', brokerKey(clientId, packet.brokerId, packet.brokerCounter))
        // see the class comment: a QoS 1 messageId need not be on disk before sending
        const qos1 = (packet.cmd === undefined || packet.cmd === 'publish') && packet.qos === 1
        const assigned = seq === undefined ? undefined : await this.#assignMessageId(clientId, gen, seq, messageId, !qos1)
        if (assigned !== undefined) return { value: undefined, landed: qos1 ? undefined : assigned.landed }
        if (this.#dropped.forget(clientId, droppedKey(packet))) {
          if (typeof messageId === 'number') this.#dropped.remember(clientId, 'm' + messageId)
          return { value: undefined }
        }
      }
      // aedes rebuilds a stored PUBREL with a fresh brokerCounter when it
      // resends it, so anything not found above is looked up by messageId
      if (typeof messageId === 'number') {
        const seq = await this.#index(clientId, 'm', messageIdKey(clientId, messageId))
        const replaced = seq === undefined ? undefined : await this.#replace(clientId, gen, seq, packet)
        if (replaced !== undefined) return replaced
        if (this.#dropped.has(clientId, 'm' + messageId)) return { value: undefined }
      }
      throw new NotFoundError(`client ${clientId} has no queued packet with messageId ${String(messageId)}`)
    }))
  }

  /** Removes and returns the packet sent with `messageId`, if there is one. */
  clear (clientId: string, messageId: unknown): Promise<StoredPacket | undefined> {
    if (typeof messageId !== 'number') return Promise.resolve(undefined)
    return this.#landed(this.#withState(clientId, async (state, gen): Promise<Outcome<StoredPacket | undefined>> => {
      // nothing stored (a clean session's PUBACK, aedes clears for every client): no index read
      if (state.count === 0 && !this.#dropped.has(clientId)) return { value: undefined }
      const idKey = messageIdKey(clientId, messageId)
      const seq = await this.#index(clientId, 'm', idKey)
      if (seq === undefined) {
        this.#dropped.forget(clientId, 'm' + messageId)
        return { value: undefined }
      }
      const record = await this.#record(clientId, seq)
      const ops: WriterOperation[] = [del(this.#byMessageId, idKey)]
      const indexKey = record === undefined ? undefined : brokerKeyOf(clientId, record)
      if (record !== undefined) ops.push(del(this.#queue, clientKey(clientId) + seq))
      if (indexKey !== undefined) ops.push(del(this.#byBroker, indexKey))
      const landed = this.#commit(clientId, gen, ops, [seq], cache => {
        cache.setByMessageId(clientId, idKey, undefined)
        cache.deleteRecord(clientId, seq)
        if (indexKey !== undefined) cache.setByBroker(clientId, indexKey, undefined)
        // a PUBACK's delete may wait a moment for others (see OrderedWriter)
      }, false)
      if (record !== undefined) {
        state.count--
        landed.then(() => { this.#total-- }, noop)
      }
      // a copy: the cached object is never handed out
      return { value: record === undefined ? undefined : { ...record }, landed }
    }))
  }

  /** Drops the client's whole queue, in one batch. */
  wipe (clientId: string): Promise<void> {
    return this.#landed(this.#withState(clientId, async (state, gen): Promise<Outcome<undefined>> => {
      await this.#writer.flush()
      const range = { ...clientRange(clientId), keyEncoding: UTF8 }
      const ops: WriterOperation[] = []
      let records = 0
      for (const db of [this.#queue, this.#byBroker, this.#byMessageId]) {
        for await (const key of db.keys(range)) {
          ops.push(del(db, key as string))
          if (db === this.#queue) records++
        }
      }
      const landed = this.#commit(clientId, gen, ops, [], cache => cache.forget(clientId))
      state.count = 0
      landed.then(() => { this.#total -= records }, noop)
      this.#dropped.forgetClient(clientId)
      return { value: undefined, landed }
    }))
  }

  /**
   * The client's queue in order. Without `drain`, a snapshot taken when
   * reading starts. With it, reading goes on past the snapshot until every
   * packet stored for the client so far was read, then reports caughtUp()
   * under the client's lock, so that each packet stored is either read here
   * or stored after that report.
   */
  stream (clientId: string, drain?: DrainHooks): Readable {
    return Readable.from(this.#records(clientId, drain))
  }

  /** Packets stored for the client. */
  count (clientId: string): Promise<number> {
    return this.#withState(clientId, async state => state.count)
  }

  /** Resolves once every operation started so far has settled and its writes landed. */
  async idle (): Promise<void> {
    await this.#lock.idle()
    await this.#writer.flush()
  }

  /** Counts the packets stored for every client from the keys; once at start-up, before any operation. */
  async countAll (): Promise<void> {
    await this.#writer.flush()
    let total = 0
    const keys = this.#queue.keys({ keyEncoding: UTF8 })
    try {
      for (let batch = await keys.nextv(READ_BATCH); batch.length > 0; batch = await keys.nextv(READ_BATCH)) total += batch.length
    } finally {
      await keys.close()
    }
    this.#total = total
  }

  /** Packets stored across every client's queue. */
  get total (): number {
    return this.#total
  }

  /** Cache entries and bytes held, for tests of its bounds. */
  get cacheSize (): { entries: number, bytes: number } {
    return this.#cache.size
  }

  async #enqueueOne (clientId: string, state: ClientState, gen: number, packet: StoredPacket): Promise<Outcome<undefined>> {
    if (state.count >= this.#options.maxQueue) {
      if (this.#options.isConnected?.(clientId) === true) this.#dropped.remember(clientId, droppedKey(packet))
      try {
        this.#options.onQueueFull?.(clientId)
      } catch {
        // a failing metrics hook must not fail the publish for every other subscriber
      }
      return { value: undefined }
    }
    // as aedes' memory persistence: a fresh packet, without a messageId yet
    const record = new Packet(packet)
    const encoded = packetCodec.encode(record)
    const seq = formatNumber(state.nextSeq++, SEQ_DIGITS)
    const ops: WriterOperation[] = [put(this.#queue, clientKey(clientId) + seq, encoded)]
    const indexKey = brokerKeyOf(clientId, record)
    if (indexKey !== undefined) ops.push(put(this.#byBroker, indexKey, seq))
    // a connected client is sent it at once: keep it for the update and PUBACK
    const live = this.#options.isConnected?.(clientId) === true
    const landed = this.#commit(clientId, gen, ops, [seq], cache => {
      if (indexKey !== undefined) cache.setByBroker(clientId, indexKey, live ? seq : undefined)
      if (live) cache.setRecord(clientId, seq, packetCodec.decode(encoded))
    })
    const key = deliveryKey(record)
    if (key !== undefined) this.#options.onStored?.(clientId, key)
    // a failed write resets every state (see the constructor)
    state.count++
    landed.then(() => { this.#total++ }, noop)
    return { value: undefined, landed }
  }

  /** Gives the record its messageId; undefined if there is no such record. */
  async #assignMessageId (clientId: string, gen: number, seq: string, messageId: number | undefined, urgent: boolean): Promise<Outcome<undefined> | undefined> {
    const record = await this.#record(clientId, seq)
    if (record === undefined) return undefined
    const previous = record.messageId
    const next = { ...record, messageId }
    // encoded only if its PUBACK's delete does not land in the same batch
    const ops: WriterOperation[] = [put(this.#queue, clientKey(clientId) + seq, () => packetCodec.encode(next))]
    let oldKey: string | undefined
    if (typeof previous === 'number' && previous !== messageId) {
      // the old messageId may point at a newer packet by now
      const key = messageIdKey(clientId, previous)
      if (await this.#index(clientId, 'm', key) === seq) {
        ops.push(del(this.#byMessageId, key))
        oldKey = key
      }
    }
    const idKey = typeof messageId === 'number' ? messageIdKey(clientId, messageId) : undefined
    if (idKey !== undefined) ops.push(put(this.#byMessageId, idKey, seq))
    // wrapped: an async function returning the promise would wait for it
    return {
      value: undefined,
      landed: this.#commit(clientId, gen, ops, [seq], cache => {
        cache.setRecord(clientId, seq, next)
        if (oldKey !== undefined) cache.setByMessageId(clientId, oldKey, undefined)
        if (idKey !== undefined) cache.setByMessageId(clientId, idKey, seq)
      }, urgent)
    }
  }

  /** Replaces the record (publish to PUBREL); undefined if there is no such record. */
  async #replace (clientId: string, gen: number, seq: string, packet: StoredPacket): Promise<Outcome<undefined> | undefined> {
    const record = await this.#record(clientId, seq)
    if (record === undefined) return undefined
    const encoded = packetCodec.encode({ ...packet })
    const ops: WriterOperation[] = [put(this.#queue, clientKey(clientId) + seq, encoded)]
    const oldIndex = brokerKeyOf(clientId, record)
    const newIndex = brokerKeyOf(clientId, packet)
    const dropOld = oldIndex !== undefined && oldIndex !== newIndex
    if (dropOld) ops.push(del(this.#byBroker, oldIndex))
    if (newIndex !== undefined) ops.push(put(this.#byBroker, newIndex, seq))
    return {
      value: undefined,
      landed: this.#commit(clientId, gen, ops, [seq], cache => {
        // the stored form, never aedes' own object
        cache.setRecord(clientId, seq, packetCodec.decode(encoded))
        if (dropOld) cache.setByBroker(clientId, oldIndex, undefined)
        if (newIndex !== undefined) cache.setByBroker(clientId, newIndex, seq)
      })
    }
  }

  /**
   * Issues a batch computed under the client's lock: throws if a write
   * failed since the task began (its reads may predate the reset), else applies it to the cache, marks its
   * records written for open streams and hands it to the writer.
   */
  #commit (clientId: string, gen: number, ops: WriterOperation[], seqs: string[], apply: (cache: QueueCache) => void, urgent = true): Promise<void> {
    if (gen !== this.#generation) {
      throw new StoreError(`a write to the outgoing queue failed while client ${clientId}'s operation ran; try again`)
    }
    apply(this.#cache)
    this.#cache.written(clientId, seqs)
    const landed = this.#writer.write(ops, urgent)
    // failures reach whoever awaits it; an update resolved early has nobody
    landed.catch(noop)
    return landed
  }

  async * #records (clientId: string, drain?: DrainHooks): AsyncGenerator<StoredPacket> {
    // registered before the writes issued so far land, so none is missed
    const tracker = this.#cache.track(clientId)
    const range = clientRange(clientId)
    /** Seqs up to this one were read (or never issued). */
    let readTo = -1
    /** Seqs up to this one were issued before the last pass began. */
    let issued = -1
    try {
      if (drain !== undefined) {
        // An empty queue (as counted under the lock, writes issued included) has nothing to read:
        // caught up at once, without opening the store (most reconnects of an idle session).
        const empty = await this.#withState(clientId, async (state) => {
          if (state.count !== 0) return false
          drain.caughtUp()
          return true
        })
        if (empty) return
      }
      while (true) {
        await this.#writer.flush()
        const from = readTo < 0 ? { gte: range.gte } : { gt: clientKey(clientId) + formatNumber(readTo, SEQ_DIGITS) }
        const iterator = this.#queue.iterator({ ...from, lt: range.lt, keyEncoding: UTF8, valueEncoding: BUFFER })
        try {
          while (true) {
            const entries = await iterator.nextv(READ_BATCH) as Array<[string, Buffer]>
            if (entries.length === 0) break
            for (const [key, value] of entries) {
              const seq = key.slice(-SEQ_DIGITS)
              readTo = Math.max(readTo, Number(seq))
              const packet = packetCodec.decode(value)
              this.#cache.streamed(clientId, tracker, seq, { ...packet }, brokerKeyOf(clientId, packet))
              const delivery = drain === undefined ? undefined : deliveryKey(packet)
              if (delivery !== undefined && !drain!.take(delivery)) continue
              yield packet
            }
          }
        } finally {
          await iterator.close()
        }
        if (drain === undefined) return
        // the pass read all that was issued before it and still is
        readTo = Math.max(readTo, issued)
        // caught up when no seq past readTo was issued; else read those (issued before this check, so visible after a flush)
        issued = await this.#withState(clientId, async (state) => {
          // a state read again from the keys may not know seqs already read: never hand them out again
          state.nextSeq = Math.max(state.nextSeq, readTo + 1)
          if (state.nextSeq - 1 <= readTo) drain.caughtUp()
          return state.nextSeq - 1
        })
        if (issued <= readTo) return
      }
    } finally {
      this.#cache.untrack(clientId, tracker)
      drain?.ended()
    }
  }

  async #record (clientId: string, seq: string): Promise<StoredPacket | undefined> {
    const cached = this.#cache.record(clientId, seq)
    if (cached !== undefined) return cached
    await this.#writer.flush()
    const value = await this.#queue.get(clientKey(clientId) + seq, { keyEncoding: UTF8, valueEncoding: BUFFER })
    return value === undefined ? undefined : packetCodec.decode(value as Buffer)
  }

  /** The seq an index entry points at: from the cache, else from the store. */
  async #index (clientId: string, index: 'b' | 'm', key: string): Promise<string | undefined> {
    const cached = index === 'b' ? this.#cache.byBroker(clientId, key) : this.#cache.byMessageId(clientId, key)
    if (cached !== undefined) return cached
    await this.#writer.flush()
    const db = index === 'b' ? this.#byBroker : this.#byMessageId
    return await db.get(key, { keyEncoding: UTF8, valueEncoding: UTF8 }) as string | undefined
  }

  /**
   * Runs `task` under the client's lock with its state, read from the keys
   * the first time (see #keepOrForget for when it is forgotten).
   */
  #withState<T> (clientId: string, task: (state: ClientState, gen: number) => Promise<T>): Promise<T> {
    return this.#lock.run(clientId, async () => {
      let state: ClientState | undefined
      try {
        const gen = this.#generation
        state = this.#states.get(clientId) ?? await this.#load(clientId)
        return await task(state, gen)
      } catch (cause) {
        throw cause instanceof HailError ? cause : new StoreError(`could not read the queue of client ${clientId}`, { cause })
      } finally {
        if (state !== undefined && this.#states.get(clientId) === state) this.#keepOrForget(clientId, state)
      }
    })
  }

  /**
   * An empty queue's state is kept for the last MAX_EMPTY_STATES clients
   * whose queue emptied (a connected client's empties after every PUBACK,
   * and reading it again would walk the range's fresh deletes), then
   * forgotten, so idle clients cost no memory.
   */
  #keepOrForget (clientId: string, state: ClientState): void {
    this.#empty.delete(clientId)
    if (state.count !== 0 || this.#dropped.has(clientId)) return
    this.#empty.add(clientId)
    if (this.#empty.size <= MAX_EMPTY_STATES) return
    const oldest = this.#empty.values().next().value as string
    this.#empty.delete(oldest)
    // a state read again later is read after the writes issued so far, so exact
    if (this.#states.get(oldest)?.count === 0 && !this.#dropped.has(oldest)) this.#states.delete(oldest)
  }

  /** Waits for the task under the lock, then (outside it) for its write. */
  async #landed<T> (outcome: Promise<Outcome<T>>): Promise<T> {
    const { value, landed } = await outcome
    if (landed !== undefined) await landed
    return value
  }

  /** Counts the client's stored packets and finds where its seqs left off. */
  async #load (clientId: string): Promise<ClientState> {
    await this.#writer.flush()
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
}

function noop (): void {}
