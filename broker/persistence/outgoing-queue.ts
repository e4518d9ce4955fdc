import { Readable } from 'node:stream'
import packetConstructor from 'aedes-packet'
import { HailError, NotFoundError, StoreError } from '../errors.js'
import { clientKey, clientRange } from './client-key.js'
import type { LevelDatabase } from './group-commit.js'
import { KeyedLock } from './keyed-lock.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'

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
const SEQ_DIGITS = 16
const MESSAGE_ID_DIGITS = 5

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
        const seq = await this.#get(this.#byBroker, brokerKey(clientId, packet.brokerId, packet.brokerCounter))
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
  clear (clientId: string, messageId: unknown): Promise<StoredPacket | undefined> {
    if (typeof messageId !== 'number') return Promise.resolve(undefined)
    return this.#withState(clientId, async state => {
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
    })
  }

  /** The client's queue in order; a snapshot taken when reading starts. */
  stream (clientId: string): Readable {
    return Readable.from(this.#records(clientId))
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

  async * #records (clientId: string): AsyncGenerator<StoredPacket> {
    const range = { ...clientRange(clientId), keyEncoding: UTF8, valueEncoding: BUFFER }
    for await (const value of this.#queue.values(range)) {
      yield packetCodec.decode(value as Buffer)
    }
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

function brokerKey (clientId: string, brokerId: string, brokerCounter: unknown): string {
  return clientKey(clientId) + clientKey(brokerId) + formatNumber(Number(brokerCounter), SEQ_DIGITS)
}

/** The by-broker index key of a stored publish, if it has one. */
function brokerKeyOf (clientId: string, packet: StoredPacket): string | undefined {
  if (packet.cmd !== undefined && packet.cmd !== 'publish') return undefined
  if (typeof packet.brokerId !== 'string' || packet.brokerId === '') return undefined
  return brokerKey(clientId, packet.brokerId, packet.brokerCounter)
}

function messageIdKey (clientId: string, messageId: number): string {
  return clientKey(clientId) + formatNumber(messageId, MESSAGE_ID_DIGITS)
}

function droppedKey (packet: StoredPacket): string {
  return 'b' + String(packet.brokerId) + ':' + String(packet.brokerCounter)
}

function formatNumber (n: number, digits: number): string {
  return String(n).padStart(digits, '0')
}
