import { Readable } from 'node:stream'
import { StoreError } from '../errors.js'
import type { LevelDatabase } from '../storage/index.js'
import { KeyedLock } from '../storage/index.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'

const UTF8 = 'utf8'
const BUFFER = 'buffer'
// 0xFF never occurs in UTF-8, so prefix + 0xFF bounds every topic with that prefix
const AFTER_UTF8 = Buffer.from([0xff])

/**
 * Retained messages, keyed by topic. A lookup by topic filter reads only the
 * keys that start with the filter's literal part (what comes before its first
 * wildcard), so a subscription to `site/7/#` costs what site 7 holds, not
 * what every site holds. The topics that hold one are also kept in memory
 * (after load()), so a filter without wildcards, and any filter while nothing
 * is retained, costs no read (aedes looks up every SUBSCRIBE's filters).
 */
export class RetainedStore {
  readonly #db: LevelDatabase
  readonly #lock = new KeyedLock()
  /** Topics that may hold a retained message: added before a write, removed once a delete landed. */
  readonly #topics = new Set<string>()
  /** Whether #topics was loaded; before, every lookup reads the store. */
  #known = false

  constructor (db: LevelDatabase) {
    this.#db = db
  }

  /** Reads the topics that hold a retained message; called once at setup. */
  async load (): Promise<void> {
    // topics written meanwhile are in the set already; one deleted meanwhile may come back: only a read more
    for await (const key of this.#db.keys({ keyEncoding: UTF8 })) this.#topics.add(key as string)
    this.#known = true
  }

  /**
   * Retained messages stored (hail_retained_messages), from the topics kept
   * in memory: no store read. A write that failed may count until the
   * topic's next write or delete (it may have landed).
   */
  get count (): number {
    return this.#topics.size
  }

  /** Stores a copy of `packet`; an empty payload deletes the topic's message. */
  store (packet: StoredPacket): Promise<void> {
    const topic = packet.topic
    if (typeof topic !== 'string') return Promise.reject(new StoreError('retained message without a topic'))
    // stored now, so later changes to the caller's object are not seen
    const value = packet.payload === undefined || packet.payload.length === 0
      ? null
      : packetCodec.encode({ ...packet })
    // one write per topic at a time: of two publishes racing, the later wins
    return this.#lock.run(topic, async () => {
      try {
        if (value === null) {
          await this.#db.del(topic, { keyEncoding: UTF8 })
          this.#topics.delete(topic)
        } else {
          // before the write: a failed one may still have landed
          this.#topics.add(topic)
          await this.#db.put(topic, value, { keyEncoding: UTF8, valueEncoding: BUFFER })
        }
      } catch (cause) {
        throw new StoreError(`could not store the retained message of ${topic}`, { cause })
      }
    })
  }

  /** The messages matching any of the filters, filter by filter, as aedes expects. */
  stream (filters: string[]): Readable {
    return Readable.from(this.#matching(filters))
  }

  /** Resolves once every write issued so far has settled. */
  idle (): Promise<void> {
    return this.#lock.idle()
  }

  async * #matching (filters: string[]): AsyncGenerator<StoredPacket> {
    for (const filter of filters) {
      if (this.#known && this.#topics.size === 0) return
      if (!filter.includes('+') && !filter.includes('#')) {
        // only the topic itself can match
        if (this.#known && !this.#topics.has(filter)) continue
        const value = await this.#db.get(filter, { keyEncoding: UTF8, valueEncoding: BUFFER })
        if (value !== undefined) yield packetCodec.decode(value as Buffer)
        continue
      }
      const levels = filter.split('/')
      const prefix = Buffer.from(literalPrefix(filter), 'utf8')
      const range = prefix.length === 0
        ? {}
        : { gte: prefix, lt: Buffer.concat([prefix, AFTER_UTF8]) }
      for await (const [key, value] of this.#db.iterator({ ...range, keyEncoding: BUFFER, valueEncoding: BUFFER })) {
        if (matches(levels, (key as Buffer).toString('utf8'))) {
          yield packetCodec.decode(value as Buffer)
        }
      }
    }
  }
}

/**
 * The part of a topic filter every matching topic starts with. A trailing
 * '/#' also matches its parent level ([MQTT-4.7.1-2]: 'a/#' matches 'a'), so
 * that '/' is not part of the prefix.
 */
function literalPrefix (filter: string): string {
  const plus = filter.indexOf('+')
  const hash = filter.indexOf('#')
  if (plus === -1 && hash === -1) return filter
  if (hash !== -1 && (plus === -1 || hash < plus)) {
    const prefix = filter.slice(0, hash)
    return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  }
  return filter.slice(0, plus)
}

/** MQTT 3.1.1 section 4.7 topic matching of a split filter against a topic name. */
function matches (filter: string[], topic: string): boolean {
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match '$' topics
  if (topic.startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false
  const levels = topic.split('/')
  for (let i = 0; i < filter.length; i++) {
    const want = filter[i]
    if (want === '#') return true // [MQTT-4.7.1-2], including the parent level
    if (i >= levels.length) return false
    // [MQTT-4.7.1-3] '+' matches exactly one level, which may be empty
    if (want !== '+' && want !== levels[i]) return false
  }
  return filter.length === levels.length
}
