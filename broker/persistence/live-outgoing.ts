import { Readable } from 'node:stream'
import packetConstructor from 'aedes-packet'
import type { StoredPacket } from './packet-codec.js'

/** The part of an aedes persistence that live-outgoing.ts takes over; the rest passes through. */
export interface OutgoingPersistence {
  setup (broker: LiveBroker): Promise<void>
  outgoingEnqueue (sub: { clientId: string }, packet: StoredPacket): Promise<void>
  outgoingEnqueueCombi (subs: Array<{ clientId: string }>, packet: StoredPacket): Promise<void>
  outgoingUpdate (client: { id: string }, packet: StoredPacket): Promise<void>
  outgoingClearMessageId (client: { id: string }, packet: StoredPacket | undefined): Promise<StoredPacket | undefined>
  outgoingStream (client: { id: string }): Readable
  cleanSubscriptions (client: { id: string }): Promise<void>
  queueLength? (client: { id: string }): Promise<number>
}

export interface LiveBroker {
  clients?: Record<string, unknown>
}

export interface LiveOutgoingOptions {
  /**
   * Whether a packet may skip the store while its subscriber is connected:
   * only packets whose loss in a crash the protocol repairs by itself (IM
   * messages, which devices sync from the conversation log after every
   * reconnect).
   */
  live: (packet: StoredPacket) => boolean
  /** Packets kept in memory per client; more take the stored path (default 1000). */
  maxPerClient?: number
  /** Told of each packet kept in memory instead of stored (metrics, tests). */
  onLive?: (clientId: string) => void
  /**
   * The node-wide bound on what the in-memory queues hold (all clients
   * together); past it, packets take the stored path, as past maxPerClient.
   */
  budget?: LiveBudget
}

/** Senders are held from this share of the bound held by connected clients (LiveBudget.pressed) ... */
const PRESS_ON = 0.8
/** ... until it falls under this share. */
const PRESS_OFF = 0.6

/** What one queued copy is counted for beyond its payload and topic: the Packet, its key and Map entries. */
const COPY_OVERHEAD = 256

/**
 * The bytes the in-memory queues of live-outgoing.ts hold, on the whole node
 * (payload and topic of every copy, plus COPY_OVERHEAD), against a bound:
 * a copy that would pass `maxBytes` takes the durable queue instead, so the
 * memory held stays under the bound whatever the number of clients, and
 * nothing is dropped. `pressed()` tells the IM fan-out to hold senders'
 * PUBACKs (fanout.ts room()) while what connected clients hold is past the
 * bound, so that the store path stays the exception.
 */
export class LiveBudget {
  readonly maxBytes: number
  #held = 0
  #peak = 0
  #spilled = 0
  /** Bytes per client, to tell what connected clients hold from what waits for a reconnect. */
  readonly #byClient = new Map<string, number>()
  #connected: (clientId: string) => boolean = () => true
  #pressedAt = 0
  #pressed = false

  constructor (maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxLiveQueueBytes must be a positive integer, not ${maxBytes}`)
    this.maxBytes = maxBytes
  }

  /** Bytes held now. */
  get held (): number { return this.#held }
  /** The most held at once since start. */
  get peak (): number { return this.#peak }
  /** Copies that took the durable queue because the bound was reached. */
  get spilled (): number { return this.#spilled }

  /**
   * Whether connected clients hold more than PRESS_ON of the bound (until
   * they are under PRESS_OFF of it): senders are held before the bound is
   * reached, so copies rarely take the durable queue, which costs a store
   * write per copy (the collapse of issue 12).
   * What clients that left hold counts against the bound but not here:
   * waiting would not free it. Recomputed at most every 20 ms.
   */
  pressed (): boolean {
    if (this.#held < this.maxBytes * PRESS_OFF) return (this.#pressed = false)
    const now = Date.now()
    if (now - this.#pressedAt < 20) return this.#pressed
    this.#pressedAt = now
    let connected = 0
    for (const [id, bytes] of this.#byClient) if (this.#connected(id)) connected += bytes
    this.#pressed = connected >= this.maxBytes * (this.#pressed ? PRESS_OFF : PRESS_ON)
    return this.#pressed
  }

  /** @internal live-outgoing.ts */
  watch (connected: (clientId: string) => boolean): void { this.#connected = connected }
  /** @internal whether `bytes` more fit; counts a spill when not. */
  fits (bytes: number): boolean {
    if (this.#held + bytes <= this.maxBytes) return true
    this.#spilled++
    return false
  }

  /** @internal */
  take (clientId: string, bytes: number): void {
    this.#held += bytes
    if (this.#held > this.#peak) this.#peak = this.#held
    this.#byClient.set(clientId, (this.#byClient.get(clientId) ?? 0) + bytes)
  }

  /** @internal */
  release (clientId: string, bytes: number): void {
    this.#held -= bytes
    const left = (this.#byClient.get(clientId) ?? 0) - bytes
    if (left <= 0) this.#byClient.delete(clientId)
    else this.#byClient.set(clientId, left)
  }
}

/** What one in-memory copy of `packet` is counted for. */
export function copyCost (packet: StoredPacket): number {
  const payload = packet.payload
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload?.length ?? 0
  return bytes + (packet.topic?.length ?? 0) + COPY_OVERHEAD
}

// aedes-packet's typings describe a namespace; at runtime it is the constructor
const Packet = packetConstructor as unknown as new (original: StoredPacket) => StoredPacket

interface LiveQueue {
  /** By `brokerId:brokerCounter`, in arrival order. */
  packets: Map<string, StoredPacket>
  /** messageId → key in `packets`, once the packet was sent. */
  byMessageId: Map<number, string>
}

/**
 * Wraps an aedes persistence so that packets for which `live` says so, and
 * whose subscriber is connected to this node, are queued in memory instead
 * of in the durable outgoing queue: aedes sends them at once and forgets
 * them at the PUBACK, so the store's write, messageId update and delete per
 * delivery (most of an IM message's CPU) are saved. They still behave as a
 * queued packet: kept until acknowledged, sent again on reconnect (this
 * process), cleared by a clean session. Only a crash loses them, which is
 * why `live` must pick packets the protocol recovers otherwise.
 *
 * Order: a client's `live` packets in memory are always older than its
 * `live` packets in the store (one goes to memory only while the store holds
 * none for that client, as counted when aedes read the store at CONNECT,
 * erring towards "some"), so outgoingStream() gives memory first, then the
 * store, and the live packets keep their order. Other packets (receipts,
 * replies) may then come after live ones that followed them.
 */
export function liveOutgoing<P extends OutgoingPersistence> (persistence: P, options: LiveOutgoingOptions): P {
  const maxPerClient = options.maxPerClient ?? 1000
  const queues = new Map<string, LiveQueue>()
  /**
   * Per client: how many `live` packets the store holds, counted while aedes
   * reads the store at CONNECT; until that read went to the end the client's
   * packets all take the store.
   */
  const counts = new Map<string, StoredLive>()
  let broker: LiveBroker | undefined

  const connected = (clientId: string): boolean => broker?.clients?.[clientId] !== undefined
  const budget = options.budget
  budget?.watch(connected)

  const enqueue = (subs: Array<{ clientId: string }>, packet: StoredPacket): Promise<void> => {
    const rest: Array<{ clientId: string }> = []
    const live = options.live(packet)
    const seen = new Set<string>()
    let cost: number | undefined
    for (const sub of subs) {
      const id = sub.clientId
      if (seen.has(id)) continue // overlapping filters match once per filter: one copy
      seen.add(id)
      if (!live) {
        rest.push(sub)
        continue
      }
      const count = counts.get(id)
      if (!connected(id)) {
        // counted again at its next CONNECT
        counts.delete(id)
        rest.push(sub)
        continue
      }
      let queue = queues.get(id)
      if (count === undefined || !count.known || count.size > 0 || (queue?.packets.size ?? 0) >= maxPerClient ||
        (budget !== undefined && !budget.fits(cost ??= copyCost(packet)))) {
        // newer than every packet in memory, so the order of live packets holds
        count?.added(keyOf(packet))
        rest.push(sub)
        continue
      }
      if (queue === undefined) queues.set(id, queue = { packets: new Map(), byMessageId: new Map() })
      const key = keyOf(packet)
      if (budget !== undefined && !queue.packets.has(key)) budget.take(id, cost ??= copyCost(packet))
      queue.packets.set(key, new Packet(packet))
      options.onLive?.(id)
    }
    if (rest.length === 0) return Promise.resolve()
    return persistence.outgoingEnqueueCombi(rest, packet)
  }

  /** Memory first, then the store, counting the store's live packets as they pass. */
  async function * stream (clientId: string, count: StoredLive, snapshot: StoredPacket[], stored: Readable): AsyncGenerator<StoredPacket> {
    yield * snapshot
    for await (const packet of stored) {
      if (options.live(packet as StoredPacket)) count.read(keyOf(packet as StoredPacket))
      yield packet as StoredPacket
    }
    count.done()
  }

  const overrides: Partial<OutgoingPersistence> = {
    async setup (b: LiveBroker): Promise<void> {
      broker = b
      await persistence.setup(b)
    },
    outgoingEnqueue: (sub, packet) => enqueue([sub], packet),
    outgoingEnqueueCombi: enqueue,
    outgoingUpdate (client, packet) {
      const queue = queues.get(client.id)
      const record = queue?.packets.get(keyOf(packet))
      if (queue === undefined || record === undefined || packet.cmd === 'pubrel') return persistence.outgoingUpdate(client, packet)
      if (typeof record.messageId === 'number' && queue.byMessageId.get(record.messageId) === keyOf(packet)) {
        queue.byMessageId.delete(record.messageId)
      }
      record.messageId = packet.messageId
      if (typeof packet.messageId === 'number') queue.byMessageId.set(packet.messageId, keyOf(packet))
      return Promise.resolve()
    },
    async outgoingClearMessageId (client, packet) {
      const queue = queues.get(client.id)
      const messageId = packet?.messageId
      const key = typeof messageId === 'number' ? queue?.byMessageId.get(messageId) : undefined
      if (queue !== undefined && key !== undefined) {
        const record = queue.packets.get(key)
        queue.byMessageId.delete(messageId as number)
        queue.packets.delete(key)
        if (queue.packets.size === 0) queues.delete(client.id)
        if (budget !== undefined && record !== undefined) budget.release(client.id, copyCost(record))
        return record
      }
      const cleared = await persistence.outgoingClearMessageId(client, packet)
      const count = counts.get(client.id)
      if (cleared !== undefined && options.live(cleared)) count?.cleared(keyOf(cleared))
      return cleared
    },
    outgoingStream (client) {
      const count = new StoredLive()
      counts.set(client.id, count)
      const snapshot = [...(queues.get(client.id)?.packets.values() ?? [])]
      return Readable.from(stream(client.id, count, snapshot, persistence.outgoingStream(client)), { objectMode: true })
    },
    async queueLength (client) {
      const stored = persistence.queueLength === undefined ? 0 : await persistence.queueLength(client)
      return stored + (queues.get(client.id)?.packets.size ?? 0)
    },
    async cleanSubscriptions (client) {
      const queue = queues.get(client.id)
      if (budget !== undefined && queue !== undefined) for (const record of queue.packets.values()) budget.release(client.id, copyCost(record))
      queues.delete(client.id)
      counts.delete(client.id)
      await persistence.cleanSubscriptions(client)
    }
  }

  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(persistence, {
    get (target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof OutgoingPersistence]
      const value = Reflect.get(target, prop, target) as unknown
      if (typeof value !== 'function') return value
      let fn = bound.get(prop)
      if (fn === undefined) bound.set(prop, fn = value.bind(target))
      return fn
    }
  })
}

/**
 * The live packets the store holds for one client: counted exactly while
 * aedes reads the store at CONNECT (by key, as packets are acknowledged and
 * new ones stored during that read), then kept as a number.
 */
class StoredLive {
  known = false
  #size = 0
  // Both made on first use and dropped once the read went to the end: a connected idle session holds neither.
  /** While counting: stored live packets seen (read or added) and not cleared. */
  #keys: Set<string> | undefined
  /** While counting: cleared before the read reached them. */
  #cleared: Set<string> | undefined

  get size (): number {
    return this.known ? this.#size : (this.#keys?.size ?? 0)
  }

  /** A live packet was sent to the store. */
  added (key: string): void {
    if (this.known) this.#size++
    else (this.#keys ??= new Set()).add(key)
  }

  /** The CONNECT read passed a stored live packet. */
  read (key: string): void {
    if (!this.known && this.#cleared?.has(key) !== true) (this.#keys ??= new Set()).add(key)
  }

  /** A stored live packet was acknowledged. */
  cleared (key: string): void {
    if (this.known) this.#size = Math.max(0, this.#size - 1)
    else if (this.#keys?.delete(key) !== true) (this.#cleared ??= new Set()).add(key)
  }

  /** The CONNECT read went to the end. */
  done (): void {
    if (this.known) return
    this.#size = this.#keys?.size ?? 0
    this.#keys = undefined
    this.#cleared = undefined
    this.known = true
  }
}

function keyOf (packet: StoredPacket): string {
  return `${String(packet.brokerId)}:${String(packet.brokerCounter)}`
}
