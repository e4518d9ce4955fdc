import { Readable } from 'node:stream'
import { ConfigError, NotFoundError, StoreError } from '../errors.js'
import { clientKey, clientRange } from './client-key.js'
import type { ClientRef, MqttPersistence } from './mqtt-persistence.js'
import { KeyedLock, type GroupCommit, type LevelDatabase } from '../storage/index.js'
import { DrainHandovers } from './drain-handover.js'
import { OutgoingQueue } from './outgoing-queue.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'
import { RetainedStore } from './retained-store.js'
import { SubscriptionStore, type ClientSubscription, type Subscription } from './subscription-store.js'

export interface LevelPersistenceOptions {
  /** Packets queued per client before newer ones are dropped (default 1000). */
  maxQueue?: number
  /** Told of every packet dropped because a client's queue was full. */
  onQueueFull?: (clientId: string) => void
  /** Syncs subscription changes; pass the server's shared one. */
  groupCommit?: GroupCommit
  /** Whether destroy() closes `db` (default false: the server owns it). */
  ownsDb?: boolean
  /**
   * Which subscriptions of a SUBSCRIBE to keep. aedes 1.2 stores the whole
   * packet's list (lib/handlers/subscribe.js, storeSubscriptions), refused
   * filters included; without this a refused filter would still queue
   * offline copies for the session, to be dropped only at delivery.
   */
  keepSubscription?: (client: ClientRef, sub: Subscription) => boolean
}

/** The part of aedes' broker the persistence uses. */
export interface PersistenceBroker {
  id: string
  clients?: Record<string, unknown>
}

export type { ClientRef }

const DEFAULT_MAX_QUEUE = 1000
const UTF8 = 'utf8'
const BUFFER = 'buffer'

/**
 * Hail's aedes persistence on level (the async interface of aedes 1.2 and
 * aedes-persistence 11), on a sublevel of the server's one database so that
 * it shares a write-ahead log with the journal. Beyond aedes' memory
 * persistence: offline queues are bounded per client, subscription changes
 * are synced, retained lookups read only the keys a filter can match, and
 * every key under a client id is escaped so ids never collide.
 */
export class LevelPersistence implements MqttPersistence {
  readonly #db: LevelDatabase
  readonly #ownsDb: boolean
  readonly #subscriptions: SubscriptionStore
  readonly #retained: RetainedStore
  readonly #outgoing: OutgoingQueue
  readonly #incoming: LevelDatabase
  readonly #wills: LevelDatabase
  /**
   * The keys of the wills on disk, loaded at setup and kept with every change
   * (this process alone writes the embedded store): aedes asks for a
   * client's will at every CONNECT (storeWill's delWill), and most clients
   * have none, which this answers without a read.
   */
  readonly #willKeys = new Set<string>()
  /** Whether #willKeys was loaded (setup); before, every will is read from disk. */
  #willsKnown = false
  /** One will operation per client at a time, so the key set follows the disk. */
  readonly #willLock = new KeyedLock()
  readonly #pending = new Set<Promise<unknown>>()
  readonly #keepSubscription: LevelPersistenceOptions['keepSubscription']
  #broker: PersistenceBroker | undefined
  #destroyed = false
  /** Persistent sessions taking over their queue (see DrainHandovers); broker/wire/delivery-dedupe.ts asks it too. */
  readonly drainHandovers = new DrainHandovers()

  constructor (db: LevelDatabase, options: LevelPersistenceOptions = {}) {
    const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE
    if (!Number.isInteger(maxQueue) || maxQueue < 1) {
      throw new ConfigError(`maxQueue must be a positive integer, not ${maxQueue}`)
    }
    this.#db = db
    this.#ownsDb = options.ownsDb ?? false
    this.#keepSubscription = options.keepSubscription
    this.#subscriptions = new SubscriptionStore(db.sublevel('subs'), options.groupCommit)
    this.#retained = new RetainedStore(db.sublevel('retained'))
    this.#outgoing = new OutgoingQueue(db.sublevel('outgoing'), {
      maxQueue,
      onQueueFull: options.onQueueFull,
      isConnected: clientId => this.#broker?.clients?.[clientId] !== undefined,
      onStored: (clientId, key) => this.drainHandovers.stored(clientId, key)
    })
    this.#incoming = db.sublevel('incoming')
    this.#wills = db.sublevel('wills')
  }

  /** The broker given to setup(); the abstract tests read it. */
  get broker (): PersistenceBroker | undefined {
    return this.#broker
  }

  async setup (broker: PersistenceBroker): Promise<void> {
    this.#broker = broker
    try {
      await this.#run(() => this.#subscriptions.load())
    } catch (cause) {
      throw new StoreError('could not load the stored subscriptions', { cause })
    }
    try {
      await this.#run(() => Promise.all([this.#retained.load(), this.#outgoing.countAll()]))
    } catch (cause) {
      throw new StoreError('could not load the retained topics and count the queued packets', { cause })
    }
    try {
      await this.#run(async () => {
        // wills changed meanwhile are in the set already; one deleted meanwhile may come back: only a read more
        for await (const key of this.#wills.keys({ keyEncoding: UTF8 })) this.#willKeys.add(key as string)
      })
      this.#willsKnown = true
    } catch (cause) {
      throw new StoreError('could not load the stored wills', { cause })
    }
  }

  /** Retained messages stored (hail_retained_messages). */
  get retainedCount (): number {
    return this.#retained.count
  }

  /** Packets in every client's outgoing queue, dropped ones not included (hail_queued_packets). */
  get queuedCount (): number {
    return this.#outgoing.total
  }

  // --- retained messages

  storeRetained (packet: StoredPacket): Promise<void> {
    return this.#run(() => this.#retained.store(packet))
  }

  createRetainedStream (pattern: string): Readable {
    return this.#retained.stream([pattern])
  }

  createRetainedStreamCombi (patterns: string[]): Readable {
    return this.#retained.stream(patterns)
  }

  // --- subscriptions

  addSubscriptions (client: ClientRef, subs: Subscription[]): Promise<void> {
    const keep = this.#keepSubscription
    const kept = keep === undefined ? subs : subs.filter((sub) => keep(client, sub))
    return this.#run(() => this.#subscriptions.add(client.id, kept))
  }

  removeSubscriptions (client: ClientRef, topics: string[]): Promise<void> {
    return this.#run(() => this.#subscriptions.remove(client.id, topics))
  }

  /** aedes asks this at the CONNECT of a persistent session (fetchSubs): its handover begins. */
  async subscriptionsByClient (client: ClientRef): Promise<Subscription[]> {
    this.drainHandovers.connecting(client.id, this.#broker?.clients?.[client.id])
    return this.#subscriptions.byClient(client.id)
  }

  async subscriptionsByTopic (topic: string): Promise<ClientSubscription[]> {
    return this.#subscriptions.byTopic(topic)
  }

  async countOffline (): Promise<{ subsCount: number, clientsCount: number }> {
    return this.#subscriptions.count()
  }

  /**
   * Ends a session ([MQTT-3.1.2-6]): its subscriptions and its queue of
   * undelivered packets go, which also resets the client's queue count.
   */
  cleanSubscriptions (client: ClientRef): Promise<void> {
    return this.#run(async () => {
      await Promise.all([this.#subscriptions.clean(client.id), this.#outgoing.wipe(client.id)])
    })
  }

  getClientList (topic: string): Readable {
    return Readable.from(this.#subscriptions.clientsOf(topic))
  }

  // --- outgoing queues

  outgoingEnqueue (sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    return this.#run(() => this.#outgoing.enqueue([sub.clientId], packet))
  }

  outgoingEnqueueCombi (subs: Array<{ clientId: string }>, packet: StoredPacket): Promise<void> {
    return this.#run(() => this.#outgoing.enqueue(subs.map(sub => sub.clientId), packet))
  }

  /**
   * An older connection of a session that is being taken over changes
   * nothing: the new one sends the queue under its own messageIds, which the
   * old one's would overwrite (then the new one's PUBACK found nothing).
   */
  outgoingUpdate (client: ClientRef, packet: StoredPacket): Promise<void> {
    if (this.drainHandovers.stale(client.id, client)) return Promise.resolve()
    return this.#run(() => this.#outgoing.update(client.id, packet))
  }

  /** An older connection's PUBACK clears nothing (see outgoingUpdate): at worst the packet comes again. */
  outgoingClearMessageId (client: ClientRef, packet: StoredPacket | undefined): Promise<StoredPacket | undefined> {
    if (this.drainHandovers.stale(client.id, client)) return Promise.resolve(undefined)
    return this.#run(() => this.#outgoing.clear(client.id, packet?.messageId))
  }

  outgoingStream (client: ClientRef): Readable {
    return this.#outgoing.stream(client.id, this.drainHandovers.streaming(client.id, client))
  }

  /** Packets queued for the client, dropped ones not included. */
  queueLength (client: ClientRef): Promise<number> {
    return this.#run(() => this.#outgoing.count(client.id))
  }

  // --- incoming QoS 2 packets awaiting PUBREL

  incomingStorePacket (client: ClientRef, packet: StoredPacket): Promise<void> {
    const record = { ...packet, messageId: packet.messageId }
    delete record.length
    return this.#run(() => this.#put(this.#incoming, incomingKey(client.id, packet.messageId), record))
  }

  async incomingGetPacket (client: ClientRef, packet: StoredPacket): Promise<StoredPacket> {
    const found = await this.#run(() => this.#get(this.#incoming, incomingKey(client.id, packet.messageId)))
    if (found === undefined) {
      throw new NotFoundError(`client ${client.id} has no incoming packet ${String(packet.messageId)}`)
    }
    return found
  }

  incomingDelPacket (client: ClientRef, packet: StoredPacket): Promise<void> {
    return this.#run(() => this.#del(this.#incoming, incomingKey(client.id, packet.messageId)))
  }

  cleanIncoming (client: ClientRef): Promise<void> {
    return this.#run(() => this.#clear(this.#incoming, client.id))
  }

  // --- wills

  /** Stores the will, stamped (in place, as aedes expects) with broker and client. */
  putWill (client: ClientRef, packet: StoredPacket): Promise<void> {
    packet.brokerId = this.#broker?.id
    packet.clientId = client.id
    const key = clientKey(client.id)
    // in the set from the start of the write: a failed write may still have landed
    return this.#run(() => this.#willLock.run(key, async () => {
      this.#willKeys.add(key)
      await this.#put(this.#wills, key, packet)
    }))
  }

  getWill (client: ClientRef): Promise<StoredPacket | undefined> {
    const key = clientKey(client.id)
    return this.#run(() => this.#willLock.run(key, async () => this.#mayHaveWill(key) ? await this.#get(this.#wills, key) : undefined))
  }

  delWill (client: ClientRef): Promise<StoredPacket | undefined> {
    const key = clientKey(client.id)
    return this.#run(() => this.#willLock.run(key, async () => {
      if (!this.#mayHaveWill(key)) return undefined
      const will = await this.#get(this.#wills, key)
      if (will !== undefined) await this.#del(this.#wills, key)
      this.#willKeys.delete(key)
      return will
    }))
  }

  #mayHaveWill (key: string): boolean {
    return !this.#willsKnown || this.#willKeys.has(key)
  }

  /** Wills of clients whose broker is not among `brokers` (alive brokers by id). */
  streamWill (brokers: Record<string, unknown> = {}): Readable {
    return Readable.from(this.#willsExcept(brokers))
  }

  // --- lifecycle

  /**
   * Waits for every write in flight, then closes the database if it owns
   * it. aedes' close() does not call this; the server does, after it.
   */
  async destroy (): Promise<void> {
    if (this.#destroyed) throw new StoreError('persistence destroyed twice')
    this.#destroyed = true
    await Promise.allSettled([...this.#pending])
    await Promise.all([this.#outgoing.idle(), this.#subscriptions.idle(), this.#retained.idle(), this.#willLock.idle()])
    if (this.#ownsDb) await this.#db.close()
  }

  async * #willsExcept (brokers: Record<string, unknown>): AsyncGenerator<StoredPacket> {
    for await (const value of this.#wills.values({ keyEncoding: UTF8, valueEncoding: BUFFER })) {
      const will = packetCodec.decode(value as Buffer)
      if (typeof will.brokerId !== 'string' || !brokers[will.brokerId]) yield will
    }
  }

  /** Runs a store operation unless destroyed, and keeps it until it settles. */
  #run<T> (start: () => Promise<T>): Promise<T> {
    if (this.#destroyed) return Promise.reject(new StoreError('persistence used after destroy()'))
    const operation = start()
    this.#pending.add(operation)
    void operation.then(noop, noop).then(() => this.#pending.delete(operation))
    return operation
  }

  async #put (db: LevelDatabase, key: string, packet: StoredPacket): Promise<void> {
    try {
      await db.put(key, packetCodec.encode(packet), { keyEncoding: UTF8, valueEncoding: BUFFER })
    } catch (cause) {
      throw new StoreError(`could not write ${key}`, { cause })
    }
  }

  async #get (db: LevelDatabase, key: string): Promise<StoredPacket | undefined> {
    let value: unknown
    try {
      value = await db.get(key, { keyEncoding: UTF8, valueEncoding: BUFFER })
    } catch (cause) {
      throw new StoreError(`could not read ${key}`, { cause })
    }
    return value === undefined ? undefined : packetCodec.decode(value as Buffer)
  }

  async #del (db: LevelDatabase, key: string): Promise<void> {
    try {
      await db.del(key, { keyEncoding: UTF8 })
    } catch (cause) {
      throw new StoreError(`could not delete ${key}`, { cause })
    }
  }

  async #clear (db: LevelDatabase, clientId: string): Promise<void> {
    try {
      await db.clear({ ...clientRange(clientId), keyEncoding: UTF8 })
    } catch (cause) {
      throw new StoreError(`could not clear the records of client ${clientId}`, { cause })
    }
  }
}

function incomingKey (clientId: string, messageId: unknown): string {
  return clientKey(clientId) + String(messageId).padStart(5, '0')
}

function noop (): void {}
