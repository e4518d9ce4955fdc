import type { Redis } from 'ioredis'
import { StoreError } from '../errors.js'
import { journalFields, type JournalEntry, type JournalKey, type JournalPacket } from './journal.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'
import type { PublishJournal } from './publish-journal.js'

export interface RedisJournalOptions {
  /** This node's id: each node has its own journal, replayed when it starts again. */
  nodeId: string
  /** Prepended to every key (default 'hail:'), as the other Redis stores do. */
  prefix?: string
}

/**
 * KEYS: entries hash, counter; ARGV: encoded packet. Keys have the level
 * journal's shape, 16 decimal digits, so they sort in append order. One
 * script, so one AOF write.
 */
const APPEND = `
local key = string.format('%016d', redis.call('INCR', KEYS[2]))
redis.call('HSET', KEYS[1], key, ARGV[1])
return key`

/**
 * The publish journal in Redis (PublishJournal): one hash of entries per
 * node, beside a counter that keeps keys growing across restarts. With
 * `appendfsync always` an append is on disk when Redis answers, and Redis
 * batches the fsyncs of concurrent appends itself (so there is no group
 * commit here). An append that fails (Redis down) rejects, and DurablePublish
 * then withholds the PUBACK.
 *
 * Why Redis and not the node's level database: in Redis mode aedes stores
 * offline copies in Redis after the PUBACK; journaling on a node-local disk
 * would acknowledge publishes while Redis is down, and they would reach their
 * subscribers only when that node restarts.
 */
export class RedisJournal implements PublishJournal {
  readonly #redis: Redis
  readonly #entries: string
  readonly #counter: string
  readonly #inFlight = new Set<Promise<unknown>>()

  /** `redis` stays the caller's: the journal never closes it. */
  constructor (redis: Redis, options: RedisJournalOptions) {
    this.#redis = redis
    const prefix = options.prefix ?? 'hail:'
    this.#entries = `${prefix}journal:${options.nodeId}`
    this.#counter = `${prefix}journal:${options.nodeId}:next`
    redis.defineCommand('hailJournalAppend', { lua: APPEND, numberOfKeys: 2 })
  }

  async append (packet: StoredPacket): Promise<JournalKey> {
    const encoded = packetCodec.encode(journalFields(packet))
    return await this.#track((this.#redis as unknown as { hailJournalAppend: (...args: Array<string | Buffer>) => Promise<string> }).hailJournalAppend(this.#entries, this.#counter, encoded), 'append')
  }

  async complete (key: JournalKey): Promise<void> {
    await this.#track(this.#redis.hdel(this.#entries, key), 'complete')
  }

  async * pending (): AsyncGenerator<JournalEntry> {
    const all = await this.#track(this.#redis.hgetallBuffer(this.#entries), 'read') as Record<string, Buffer>
    for (const key of Object.keys(all).sort()) {
      yield { key, packet: packetCodec.decode(all[key]) as unknown as JournalPacket }
    }
  }

  async flush (): Promise<void> {
    await Promise.allSettled([...this.#inFlight])
  }

  async #track<T> (command: Promise<T>, what: string): Promise<T> {
    this.#inFlight.add(command)
    try {
      return await command
    } catch (err) {
      throw new StoreError(`journal ${what} failed: ${(err as Error).message}`, { cause: err })
    } finally {
      this.#inFlight.delete(command)
    }
  }
}

