import { Readable } from 'node:stream'
import { HailError, StoreError } from '../errors.js'
import { clientKey, clientRange } from './client-key.js'
import type { LevelDatabase } from '../storage/index.js'
import { DroppedPackets } from './dropped-packets.js'
import { KeyedLock } from '../storage/index.js'
import { del, OrderedWriter, type WriterOperation } from './ordered-writer.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'
import { QueueCache, type QueueCacheOptions } from './queue-cache.js'
import { brokerKeyOf, formatNumber, idKey, recordKey, SEQ_DIGITS } from './queue-keys.js'
import { QueueRecords, type ClientState, type CommitOptions, type Outcome } from './queue-records.js'
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

const UTF8 = 'utf8'
const BUFFER = 'buffer'
/** Queued packets read from the store at a time while a queue is streamed (at most: the first read takes FIRST_READ, each next one twice as many; 1,024 measured no better). */
const READ_BATCH = 256
/** Most reconnecting sessions have a few packets queued, if any. */
const FIRST_READ = 64
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
 * clear, wipe and every QoS 2 update resolve once their batch has landed.
 * The messageId a QoS 1 publish is sent with is not written at all: it is
 * kept in memory with the client's state (ClientState.sent), so the drain of
 * a packet costs one batch entry per record and index entry at its PUBACK
 * and nothing before; a reconnect within the process gets the packet again
 * under that messageId, and after a restart (or a failed write) it comes
 * again under a new one, which QoS 1 allows (the packet stays queued until
 * its PUBACK is written). PUBACK deletes may linger up to a millisecond to
 * share a batch. Reads the cache cannot answer wait for the writes issued so
 * far, then read the store.
 */
export class OutgoingQueue {
  readonly #records: QueueRecords
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
  /**
   * The clients (their escaped key prefixes) that may have records stored:
   * those found by countAll() and those queued to since. A client not in it
   * has an empty queue, so a connect of a new or idle session reads nothing.
   * Exact only after countAll() and until a write fails.
   */
  readonly #mayHold = new Set<string>()
  #exact = false

  constructor (db: LevelDatabase, options: OutgoingQueueOptions) {
    this.#dropped = new DroppedPackets(options.maxQueue)
    this.#cache = new QueueCache({ ...DEFAULT_CACHE, ...options.cache })
    this.#writer = new OrderedWriter(db, () => {
      // what was computed from the cache may not be on disk: start over from the store
      this.#generation++
      this.#cache.clear()
      this.#states.clear()
      this.#exact = false
    })
    this.#records = new QueueRecords(db, {
      record: (clientId, seq) => this.#record(clientId, seq),
      index: (clientId, index, key) => this.#index(clientId, index, key),
      commit: (clientId, gen, ops, seqs, apply, commitOptions) => this.#commit(clientId, gen, ops, seqs, apply, commitOptions)
    }, options, this.#dropped)
  }

  /** Queues `packet` once for each distinct client of `clientIds`. */
  async enqueue (clientIds: string[], packet: StoredPacket): Promise<void> {
    // A client whose filters overlap matches once per filter; one copy is
    // enough, and two with the same broker counter would share an index key.
    const distinct = new Set(clientIds)
    await Promise.all([...distinct].map(id => this.#landed(this.#withState(id, (state, gen) => this.#records.enqueue(id, state, gen, packet)))))
  }

  /**
   * Records the messageId a queued publish was sent with, or replaces a
   * packet found by messageId (publish to PUBREL). Throws NotFoundError if
   * the client has no such packet.
   */
  update (clientId: string, packet: StoredPacket): Promise<void> {
    return this.#landed(this.#withState(clientId, async (state, gen) => await this.#records.update(clientId, state, gen, packet)))
  }

  /** Removes and returns the packet sent with `messageId`, if there is one. */
  clear (clientId: string, messageId: unknown): Promise<StoredPacket | undefined> {
    if (typeof messageId !== 'number') return Promise.resolve(undefined)
    return this.#landed(this.#withState(clientId, async (state, gen) => await this.#records.clear(clientId, state, gen, messageId)))
  }

  /** Drops the client's whole queue, in one batch. */
  wipe (clientId: string): Promise<void> {
    return this.#landed(this.#withState(clientId, async (state, gen): Promise<Outcome<undefined>> => {
      await this.#writer.flush()
      const range = { ...clientRange(clientId), keyEncoding: UTF8 }
      const { queue, byBroker, byMessageId } = this.#records
      const ops: WriterOperation[] = []
      let records = 0
      for (const db of [queue, byBroker, byMessageId]) {
        for await (const key of db.keys(range)) {
          ops.push(del(db, key as string))
          if (db === queue) records++
        }
      }
      const landed = this.#commit(clientId, gen, ops, [], cache => cache.forget(clientId), { records: -records })
      state.count = 0
      state.sent = undefined
      state.sentIds = undefined
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
    return Readable.from(this.#read(clientId, drain))
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
    const gen = this.#generation
    let total = 0
    const keys = this.#records.queue.keys({ keyEncoding: UTF8 })
    try {
      for (let batch = await keys.nextv(READ_BATCH); batch.length > 0; batch = await keys.nextv(READ_BATCH)) {
        total += batch.length
        for (const key of batch as string[]) this.#mayHold.add(key.slice(0, -SEQ_DIGITS))
      }
    } finally {
      await keys.close()
    }
    this.#total = total
    this.#exact = gen === this.#generation
  }

  /** Packets stored across every client's queue. */
  get total (): number {
    return this.#total
  }

  /** Cache entries and bytes held, for tests of its bounds. */
  get cacheSize (): { entries: number, bytes: number } {
    return this.#cache.size
  }

  /**
   * Issues a batch computed under the client's lock: throws if a write
   * failed since the task began (its reads may predate the reset), else applies it to the cache, marks its
   * records written for open streams and hands it to the writer; the total
   * follows once it landed.
   */
  #commit (clientId: string, gen: number, ops: WriterOperation[], seqs: string[], apply: (cache: QueueCache) => void, options: CommitOptions = {}): Promise<void> {
    if (gen !== this.#generation) {
      throw new StoreError(`a write to the outgoing queue failed while client ${clientId}'s operation ran; try again`)
    }
    if ((options.records ?? 0) > 0) this.#mayHold.add(idKey(clientId))
    apply(this.#cache)
    this.#cache.written(clientId, seqs)
    const landed = this.#writer.write(ops, options.urgent ?? true)
    const records = options.records ?? 0
    // a failure reaches whoever awaits it (the writer keeps it from going unhandled)
    if (records !== 0) landed.then(() => { this.#total += records }, noop)
    return landed
  }

  async * #read (clientId: string, drain?: DrainHooks): AsyncGenerator<StoredPacket> {
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
        const iterator = this.#records.queue.iterator({ ...from, lt: range.lt, keyEncoding: UTF8, valueEncoding: BUFFER })
        let size = FIRST_READ
        let ahead = iterator.nextv(size)
        try {
          while (true) {
            const entries = await ahead as Array<[string, Buffer]>
            if (entries.length === 0) break
            // read ahead: the store fetches the next batch (on its thread pool) while these go out
            size = Math.min(size * 2, READ_BATCH)
            ahead = iterator.nextv(size)
            ahead.catch(noop)
            for (const [key, value] of entries) {
              const seq = key.slice(-SEQ_DIGITS)
              readTo = Math.max(readTo, Number(seq))
              const packet = packetCodec.decode(value)
              this.#cache.streamed(clientId, tracker, seq, { ...packet }, brokerKeyOf(clientId, packet))
              // sent before under a messageId kept in memory: sent again under it [MQTT-4.4.0-1]
              const sentAs = this.#states.get(clientId)?.sentIds?.get(seq)
              if (sentAs !== undefined) packet.messageId = sentAs
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
    const value = await this.#records.queue.get(recordKey(clientId, seq), { keyEncoding: UTF8, valueEncoding: BUFFER })
    return value === undefined ? undefined : packetCodec.decode(value as Buffer)
  }

  /** The seq an index entry points at: from the cache, else from the store. */
  async #index (clientId: string, index: 'b' | 'm', key: string): Promise<string | undefined> {
    const cached = index === 'b' ? this.#cache.byBroker(clientId, key) : this.#cache.byMessageId(clientId, key)
    if (cached !== undefined) return cached
    await this.#writer.flush()
    const db = index === 'b' ? this.#records.byBroker : this.#records.byMessageId
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
    if (this.#states.get(oldest)?.count === 0 && !this.#dropped.has(oldest)) {
      this.#states.delete(oldest)
      // empty once the writes issued land (a failed one makes #mayHold inexact)
      this.#mayHold.delete(idKey(oldest))
    }
  }

  /** Waits for the task under the lock, then (outside it) for its write. */
  async #landed<T> (outcome: Promise<Outcome<T>>): Promise<T> {
    const { value, landed } = await outcome
    if (landed !== undefined) await landed
    return value
  }

  /** Counts the client's stored packets and finds where its seqs left off. */
  async #load (clientId: string): Promise<ClientState> {
    if (this.#exact && !this.#mayHold.has(idKey(clientId))) {
      const state = { count: 0, nextSeq: 0 }
      this.#states.set(clientId, state)
      return state
    }
    await this.#writer.flush()
    let count = 0
    let last = -1
    for await (const key of this.#records.queue.keys({ ...clientRange(clientId), keyEncoding: UTF8 })) {
      count++
      last = Number((key as string).slice(-SEQ_DIGITS))
    }
    const state = { count, nextSeq: last + 1 }
    this.#states.set(clientId, state)
    return state
  }
}

function noop (): void {}
