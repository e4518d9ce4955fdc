import type { StoredPacket } from './packet-codec.js'

export interface QueueCacheOptions {
  /** Entries (records and index entries) kept per client. */
  maxPerClient: number
  /** Entries kept over all clients; the longest untouched client goes first. */
  maxEntries: number
  /** Payload bytes of cached records kept over all clients. */
  maxBytes: number
}

/**
 * A stream reading a client's queue from a snapshot. Writes issued after the
 * stream registered, to records it has not passed yet, make those records
 * `dirty`: their snapshot values are stale and must not enter the cache.
 */
export interface StreamTracker {
  /** The seq last handed out; '' before the first. */
  position: string
  dirty: Set<string>
  /** Nothing more from this stream enters the cache. */
  poisoned: boolean
}

interface ClientCache {
  /** seq -> the record as stored (never an object handed to aedes) */
  records: Map<string, StoredPacket>
  /** by-broker index key -> seq */
  byBroker: Map<string, string>
  /** messageId index key -> seq */
  byMessageId: Map<string, string>
  bytes: number
  trackers: Set<StreamTracker>
}

/** Dirty seqs a stream remembers before it stops feeding the cache. */
const MAX_DIRTY = 4096

/**
 * What OutgoingQueue knows of the stored queues, so that the update and clear
 * of each drained packet read memory rather than the database. Every entry,
 * when present, equals what the database holds once the writes issued so far
 * have landed; an absent entry means "unknown, read the database". Entries
 * are only ever dropped to free memory or after a failed write, never guessed.
 */
export class QueueCache {
  readonly #options: QueueCacheOptions
  /** In order of last touch, oldest first. */
  readonly #clients = new Map<string, ClientCache>()
  #entries = 0
  #bytes = 0

  constructor (options: QueueCacheOptions) {
    this.#options = options
  }

  record (clientId: string, seq: string): StoredPacket | undefined {
    return this.#clients.get(clientId)?.records.get(seq)
  }

  byBroker (clientId: string, key: string): string | undefined {
    return this.#clients.get(clientId)?.byBroker.get(key)
  }

  byMessageId (clientId: string, key: string): string | undefined {
    return this.#clients.get(clientId)?.byMessageId.get(key)
  }

  setRecord (clientId: string, seq: string, record: StoredPacket): void {
    const cache = this.#touch(clientId)
    this.#dropRecord(cache, seq)
    cache.records.set(seq, record)
    const bytes = sizeOf(record)
    cache.bytes += bytes
    this.#bytes += bytes
    this.#entries++
    this.#trim(clientId, cache)
  }

  deleteRecord (clientId: string, seq: string): void {
    const cache = this.#clients.get(clientId)
    if (cache !== undefined) this.#dropRecord(cache, seq)
  }

  setByBroker (clientId: string, key: string, seq: string | undefined): void {
    this.#setIndex(clientId, 'byBroker', key, seq)
  }

  setByMessageId (clientId: string, key: string, seq: string | undefined): void {
    this.#setIndex(clientId, 'byMessageId', key, seq)
  }

  /** Marks `seqs` as written from now on, for the client's open streams. */
  written (clientId: string, seqs: string[]): void {
    const trackers = this.#clients.get(clientId)?.trackers
    if (trackers === undefined) return
    for (const tracker of trackers) {
      if (tracker.poisoned) continue
      for (const seq of seqs) if (seq > tracker.position) tracker.dirty.add(seq)
      if (tracker.dirty.size > MAX_DIRTY) poison(tracker)
    }
  }

  /** Forgets the client's entries; its open streams no longer feed the cache. */
  forget (clientId: string): void {
    const cache = this.#clients.get(clientId)
    if (cache === undefined) return
    for (const tracker of cache.trackers) poison(tracker)
    this.#clients.delete(clientId)
    this.#release(cache)
    if (cache.trackers.size > 0) this.#clients.set(clientId, emptyCache(cache.trackers))
  }

  /** Forgets everything; every open stream stops feeding the cache. */
  clear (): void {
    for (const clientId of [...this.#clients.keys()]) this.forget(clientId)
  }

  /** Registers a stream about to take its snapshot of the client's queue. */
  track (clientId: string): StreamTracker {
    const tracker: StreamTracker = { position: '', dirty: new Set(), poisoned: false }
    this.#touch(clientId).trackers.add(tracker)
    return tracker
  }

  untrack (clientId: string, tracker: StreamTracker): void {
    poison(tracker)
    const cache = this.#clients.get(clientId)
    if (cache === undefined) return
    cache.trackers.delete(tracker)
    if (cache.trackers.size === 0 && cache.records.size + cache.byBroker.size + cache.byMessageId.size === 0) {
      this.#clients.delete(clientId)
    }
  }

  /**
   * A record the stream read from its snapshot and hands out now: cached,
   * with its by-broker index entry, unless written since the snapshot.
   */
  streamed (clientId: string, tracker: StreamTracker, seq: string, record: StoredPacket, brokerKey: string | undefined): void {
    if (tracker.poisoned) return
    tracker.position = seq
    if (tracker.dirty.delete(seq)) return
    const cache = this.#clients.get(clientId)
    if (cache === undefined || cache.records.has(seq)) return
    if (brokerKey !== undefined && !cache.byBroker.has(brokerKey)) this.setByBroker(clientId, brokerKey, seq)
    this.setRecord(clientId, seq, record)
  }

  /** Entries and payload bytes held, for tests. */
  get size (): { entries: number, bytes: number } {
    return { entries: this.#entries, bytes: this.#bytes }
  }

  #setIndex (clientId: string, index: 'byBroker' | 'byMessageId', key: string, seq: string | undefined): void {
    if (seq === undefined) {
      const cache = this.#clients.get(clientId)
      if (cache !== undefined && cache[index].delete(key)) this.#entries--
      return
    }
    const cache = this.#touch(clientId)
    if (!cache[index].has(key)) this.#entries++
    cache[index].set(key, seq)
    this.#trim(clientId, cache)
  }

  #dropRecord (cache: ClientCache, seq: string): void {
    const old = cache.records.get(seq)
    if (old === undefined) return
    cache.records.delete(seq)
    const bytes = sizeOf(old)
    cache.bytes -= bytes
    this.#bytes -= bytes
    this.#entries--
  }

  #touch (clientId: string): ClientCache {
    let cache = this.#clients.get(clientId)
    if (cache === undefined) {
      cache = emptyCache(new Set())
    } else {
      this.#clients.delete(clientId)
    }
    this.#clients.set(clientId, cache)
    return cache
  }

  /** Keeps the bounds: the client's oldest entries first, then other clients. */
  #trim (clientId: string, cache: ClientCache): void {
    const { maxPerClient, maxEntries, maxBytes } = this.#options
    while (count(cache) > maxPerClient) this.#evictOldest(cache)
    for (const [id, other] of this.#clients) {
      if (this.#entries <= maxEntries && this.#bytes <= maxBytes) return
      if (id === clientId) continue
      this.#clients.delete(id)
      this.#release(other)
      // its streams keep going, without feeding the cache
      for (const tracker of other.trackers) poison(tracker)
    }
    while ((this.#entries > maxEntries || this.#bytes > maxBytes) && count(cache) > 0) this.#evictOldest(cache)
  }

  #evictOldest (cache: ClientCache): void {
    for (const index of [cache.records, cache.byBroker, cache.byMessageId] as Array<Map<string, unknown>>) {
      if (index.size === 0) continue
      const key = index.keys().next().value as string
      if (index === cache.records) this.#dropRecord(cache, key)
      else if (index.delete(key)) this.#entries--
      return
    }
  }

  #release (cache: ClientCache): void {
    this.#entries -= count(cache)
    this.#bytes -= cache.bytes
  }
}

function emptyCache (trackers: Set<StreamTracker>): ClientCache {
  return { records: new Map(), byBroker: new Map(), byMessageId: new Map(), bytes: 0, trackers }
}

function count (cache: ClientCache): number {
  return cache.records.size + cache.byBroker.size + cache.byMessageId.size
}

function poison (tracker: StreamTracker): void {
  tracker.poisoned = true
  tracker.dirty.clear()
}

function sizeOf (record: StoredPacket): number {
  const payload = record.payload
  return typeof payload === 'string' ? payload.length * 2 : payload?.length ?? 0
}
