import packetConstructor from 'aedes-packet'
import { NotFoundError } from '../errors.js'
import type { LevelDatabase } from '../storage/index.js'
import type { DroppedPackets } from './dropped-packets.js'
import { del, put, type WriterOperation } from './ordered-writer.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'
import type { QueueCache } from './queue-cache.js'
import { brokerKey, brokerKeyOf, droppedKey, formatNumber, messageIdKey, recordKey, SEQ_DIGITS } from './queue-keys.js'
import { deliveryKey } from './drain-handover.js'

/** What OutgoingQueue keeps of one client while it is touched. */
export interface ClientState {
  /** Packets stored for the client, exact. */
  count: number
  nextSeq: number
  /**
   * QoS 1 publishes sent and not yet acknowledged, messageId -> seq, and
   * back (made on first use): kept in memory only, never written (see
   * OutgoingQueue's class comment). Lost with the state (a restart, a failed
   * write), after which the packet is sent again under a new messageId.
   */
  sent?: Map<number, string>
  sentIds?: Map<string, number>
}

/** What a task did under the client's lock, and its write landing. */
export interface Outcome<T> {
  value: T
  landed?: Promise<void>
}

/** How a committed batch is written and counted. */
export interface CommitOptions {
  /** Whether somebody waits for it (see OrderedWriter); default true. */
  urgent?: boolean
  /** Records it adds (or, negative, removes), counted once it landed. */
  records?: number
}

/** The side of OutgoingQueue the steps run against: its reads and its commit. */
export interface QueueAccess {
  /** The record stored under the client's seq: from the cache, else from the store. */
  record: (clientId: string, seq: string) => Promise<StoredPacket | undefined>
  /** The seq an index entry points at: from the cache, else from the store. */
  index: (clientId: string, index: 'b' | 'm', key: string) => Promise<string | undefined>
  /**
   * Issues a batch computed under the client's lock (throws if a write failed
   * since `gen`), applying it to the cache first.
   */
  commit: (clientId: string, gen: number, ops: WriterOperation[], seqs: string[], apply: (cache: QueueCache) => void, options?: CommitOptions) => Promise<void>
}

/** The queue's settings the steps use (see OutgoingQueueOptions). */
export interface RecordOptions {
  maxQueue: number
  onQueueFull?: (clientId: string) => void
  isConnected?: (clientId: string) => boolean
  onStored?: (clientId: string, key: string) => void
}

// aedes-packet's typings describe a namespace; at runtime it is the constructor
const Packet = packetConstructor as unknown as new (original: StoredPacket) => StoredPacket

/**
 * The steps that build an outgoing queue's batches, each run by OutgoingQueue
 * under the client's lock with its state: a record and its index entries
 * always change in one batch (keys in queue-keys.ts). Reads and the writing
 * itself are OutgoingQueue's (QueueAccess).
 */
export class QueueRecords {
  /** `<client>:<seq>` → the stored packet */
  readonly queue: LevelDatabase
  /** `<client>:<brokerId>:<counter>` → seq */
  readonly byBroker: LevelDatabase
  /** `<client>:<messageId>` → seq */
  readonly byMessageId: LevelDatabase
  readonly #access: QueueAccess
  readonly #options: RecordOptions
  readonly #dropped: DroppedPackets

  constructor (db: LevelDatabase, access: QueueAccess, options: RecordOptions, dropped: DroppedPackets) {
    this.queue = db.sublevel('q')
    this.byBroker = db.sublevel('b')
    this.byMessageId = db.sublevel('m')
    this.#access = access
    this.#options = options
    this.#dropped = dropped
  }

  /** Stores `packet` at the end of the client's queue, or drops it when the queue is full. */
  async enqueue (clientId: string, state: ClientState, gen: number, packet: StoredPacket): Promise<Outcome<undefined>> {
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
    const ops: WriterOperation[] = [put(this.queue, recordKey(clientId, seq), encoded)]
    const indexKey = brokerKeyOf(clientId, record)
    if (indexKey !== undefined) ops.push(put(this.byBroker, indexKey, seq))
    // a connected client is sent it at once: keep it for the update and PUBACK
    const live = this.#options.isConnected?.(clientId) === true
    const landed = this.#access.commit(clientId, gen, ops, [seq], cache => {
      if (indexKey !== undefined) cache.setByBroker(clientId, indexKey, live ? seq : undefined)
      if (live) cache.setRecord(clientId, seq, packetCodec.decode(encoded))
    }, { records: 1 })
    const key = deliveryKey(record)
    if (key !== undefined) this.#options.onStored?.(clientId, key)
    // a failed write resets every state (see OutgoingQueue's constructor)
    state.count++
    return { value: undefined, landed }
  }

  /**
   * Records the messageId a queued publish was sent with, or replaces a
   * packet found by messageId (publish to PUBREL). Throws NotFoundError if
   * the client has no such packet.
   */
  async update (clientId: string, state: ClientState, gen: number, packet: StoredPacket): Promise<Outcome<undefined>> {
    const messageId = packet.messageId
    if (typeof packet.brokerId === 'string' && packet.brokerId !== '') {
      const seq = await this.#access.index(clientId, 'b', brokerKey(clientId, packet.brokerId, packet.brokerCounter))
      // see OutgoingQueue's class comment: a QoS 1 messageId is kept in memory, not written
      const qos1 = (packet.cmd === undefined || packet.cmd === 'publish') && packet.qos === 1
      if (seq !== undefined && qos1 && typeof messageId === 'number' && await this.#remember(clientId, state, seq, messageId)) {
        return { value: undefined }
      }
      const assigned = seq === undefined ? undefined : await this.#assignMessageId(clientId, state, gen, seq, messageId, !qos1)
      if (assigned !== undefined) return { value: undefined, landed: qos1 ? undefined : assigned.landed }
      if (this.#dropped.forget(clientId, droppedKey(packet))) {
        if (typeof messageId === 'number') this.#dropped.remember(clientId, 'm' + messageId)
        return { value: undefined }
      }
    }
    // aedes rebuilds a stored PUBREL with a fresh brokerCounter when it
    // resends it, so anything not found above is looked up by messageId
    if (typeof messageId === 'number') {
      const seq = await this.#access.index(clientId, 'm', messageIdKey(clientId, messageId))
      const replaced = seq === undefined ? undefined : await this.#replace(clientId, gen, seq, packet)
      if (replaced !== undefined) return replaced
      if (this.#dropped.has(clientId, 'm' + messageId)) return { value: undefined }
    }
    throw new NotFoundError(`client ${clientId} has no queued packet with messageId ${String(messageId)}`)
  }

  /** Removes the packet sent with `messageId` and gives a copy of it, if there is one. */
  async clear (clientId: string, state: ClientState, gen: number, messageId: number): Promise<Outcome<StoredPacket | undefined>> {
    // nothing stored (a clean session's PUBACK, aedes clears for every client): no index read
    if (state.count === 0 && !this.#dropped.has(clientId)) return { value: undefined }
    const sentSeq = state.sent?.get(messageId)
    if (sentSeq !== undefined) {
      state.sent?.delete(messageId)
      state.sentIds?.delete(sentSeq)
      const record = await this.#access.record(clientId, sentSeq)
      if (record !== undefined) {
        // nothing else was written for it: the record and its by-broker entry go
        const ops: WriterOperation[] = [del(this.queue, recordKey(clientId, sentSeq))]
        const indexKey = brokerKeyOf(clientId, record)
        if (indexKey !== undefined) ops.push(del(this.byBroker, indexKey))
        const landed = this.#access.commit(clientId, gen, ops, [sentSeq], cache => {
          cache.deleteRecord(clientId, sentSeq)
          if (indexKey !== undefined) cache.setByBroker(clientId, indexKey, undefined)
        }, { urgent: false, records: -1 })
        state.count--
        return { value: { ...record, messageId }, landed }
      }
    }
    const idKey = messageIdKey(clientId, messageId)
    const seq = await this.#access.index(clientId, 'm', idKey)
    if (seq === undefined) {
      this.#dropped.forget(clientId, 'm' + messageId)
      return { value: undefined }
    }
    const record = await this.#access.record(clientId, seq)
    const ops: WriterOperation[] = [del(this.byMessageId, idKey)]
    const indexKey = record === undefined ? undefined : brokerKeyOf(clientId, record)
    if (record !== undefined) ops.push(del(this.queue, recordKey(clientId, seq)))
    if (indexKey !== undefined) ops.push(del(this.byBroker, indexKey))
    const landed = this.#access.commit(clientId, gen, ops, [seq], cache => {
      cache.setByMessageId(clientId, idKey, undefined)
      cache.deleteRecord(clientId, seq)
      if (indexKey !== undefined) cache.setByBroker(clientId, indexKey, undefined)
      // a PUBACK's delete may wait a moment for others (see OrderedWriter)
    }, { urgent: false, records: record === undefined ? 0 : -1 })
    if (record !== undefined) state.count--
    // a copy: the cached object is never handed out
    return { value: record === undefined ? undefined : { ...record }, landed }
  }

  /**
   * Remembers the messageId a QoS 1 publish stored without one was sent
   * with (in memory: see ClientState.sent); false when the record is not
   * found or was stored with a messageId (then it is written as before).
   */
  async #remember (clientId: string, state: ClientState, seq: string, messageId: number): Promise<boolean> {
    const record = await this.#access.record(clientId, seq)
    if (record === undefined || typeof record.messageId === 'number') return false
    const sent = state.sent ??= new Map()
    const ids = state.sentIds ??= new Map()
    const previous = ids.get(seq)
    if (previous !== undefined && sent.get(previous) === seq) sent.delete(previous)
    // the messageId may still name an older packet: the newer takes it, as a written index entry would
    const older = sent.get(messageId)
    if (older !== undefined && older !== seq) ids.delete(older)
    sent.set(messageId, seq)
    ids.set(seq, messageId)
    return true
  }

  /** Gives the record its messageId; undefined if there is no such record. */
  async #assignMessageId (clientId: string, state: ClientState, gen: number, seq: string, messageId: number | undefined, urgent: boolean): Promise<Outcome<undefined> | undefined> {
    const record = await this.#access.record(clientId, seq)
    if (record === undefined) return undefined
    // a written entry takes the messageId from one kept in memory
    if (typeof messageId === 'number') forgetSent(state, messageId)
    const remembered = state.sentIds?.get(seq)
    if (remembered !== undefined) forgetSent(state, remembered)
    const previous = record.messageId
    const next = { ...record, messageId }
    // encoded only if its PUBACK's delete does not land in the same batch
    const ops: WriterOperation[] = [put(this.queue, recordKey(clientId, seq), () => packetCodec.encode(next))]
    let oldKey: string | undefined
    if (typeof previous === 'number' && previous !== messageId) {
      // the old messageId may point at a newer packet by now
      const key = messageIdKey(clientId, previous)
      if (await this.#access.index(clientId, 'm', key) === seq) {
        ops.push(del(this.byMessageId, key))
        oldKey = key
      }
    }
    const idKey = typeof messageId === 'number' ? messageIdKey(clientId, messageId) : undefined
    if (idKey !== undefined) ops.push(put(this.byMessageId, idKey, seq))
    // wrapped: an async function returning the promise would wait for it
    return {
      value: undefined,
      landed: this.#access.commit(clientId, gen, ops, [seq], cache => {
        cache.setRecord(clientId, seq, next)
        if (oldKey !== undefined) cache.setByMessageId(clientId, oldKey, undefined)
        if (idKey !== undefined) cache.setByMessageId(clientId, idKey, seq)
      }, { urgent })
    }
  }

  /** Replaces the record (publish to PUBREL); undefined if there is no such record. */
  async #replace (clientId: string, gen: number, seq: string, packet: StoredPacket): Promise<Outcome<undefined> | undefined> {
    const record = await this.#access.record(clientId, seq)
    if (record === undefined) return undefined
    const encoded = packetCodec.encode({ ...packet })
    const ops: WriterOperation[] = [put(this.queue, recordKey(clientId, seq), encoded)]
    const oldIndex = brokerKeyOf(clientId, record)
    const newIndex = brokerKeyOf(clientId, packet)
    const dropOld = oldIndex !== undefined && oldIndex !== newIndex
    if (dropOld) ops.push(del(this.byBroker, oldIndex))
    if (newIndex !== undefined) ops.push(put(this.byBroker, newIndex, seq))
    return {
      value: undefined,
      landed: this.#access.commit(clientId, gen, ops, [seq], cache => {
        // the stored form, never aedes' own object
        cache.setRecord(clientId, seq, packetCodec.decode(encoded))
        if (dropOld) cache.setByBroker(clientId, oldIndex, undefined)
        if (newIndex !== undefined) cache.setByBroker(clientId, newIndex, seq)
      })
    }
  }
}

/** Drops `messageId` from the client's QoS 1 messageIds kept in memory. */
function forgetSent (state: ClientState, messageId: number): void {
  const seq = state.sent?.get(messageId)
  if (seq === undefined) return
  state.sent?.delete(messageId)
  if (state.sentIds?.get(seq) === messageId) state.sentIds.delete(seq)
}
