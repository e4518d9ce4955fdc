import type { Redis } from 'ioredis'
import { StoreError } from '../errors.js'
import { encodeJournalEntry, type JournalEntry, type JournalKey, type JournalPacket } from './journal.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'
import type { PublishJournal } from './publish-journal.js'

export interface RedisJournalOptions {
  /** This node's id: each node has its own journal, replayed when it starts again. */
  nodeId: string
  /** Prepended to every key (default 'hail:'), as the other Redis stores do. */
  prefix?: string
}

/** A journal another node may adopt: its owner and the liveness key that says the owner lives. */
export interface JournalOwner {
  node: string
  liveness: string
}

/**
 * KEYS: entries hash, counter, registry; ARGV: encoded packet, this node's
 * liveness key ('' before register()), node id. Keys have the level
 * journal's shape, 16 decimal digits, so they sort in append order. The
 * registry entry is put back if an adopter removed it (this node was taken
 * for dead and lives), so no entry is ever outside the registry's reach. One
 * script, so one AOF write.
 */
const APPEND = `
local key = string.format('%016d', redis.call('INCR', KEYS[2]))
redis.call('HSET', KEYS[1], key, ARGV[1])
if ARGV[2] ~= '' then redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[2]) end
return key`

/**
 * Move a dead node's entries into the adopter's own journal, oldest first,
 * under new keys from the adopter's counter; atomic, so two adopters never
 * both take an entry and none is dropped. Does nothing unless the registry
 * still names the liveness key the adopter looked at (the owner has not
 * started again meanwhile), that key is gone (the owner is dead) and the
 * adopter's own liveness key exists (after a Redis outage every key may have
 * expired: a node adopts only once it has said it lives again).
 * KEYS: registry, dead entries, own entries, own counter, dead liveness, own
 * liveness. ARGV: dead node id, its liveness key, most entries to move.
 * Returns [key, packet, ...] of the moved entries; once the dead journal is
 * empty its registry entry goes (its counter stays, so that node's keys keep
 * growing if it ever comes back).
 */
const ADOPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return {} end
if redis.call('EXISTS', KEYS[5]) == 1 or redis.call('EXISTS', KEYS[6]) == 0 then return {} end
local keys = redis.call('HKEYS', KEYS[2])
table.sort(keys)
local limit = tonumber(ARGV[3])
local moved = {}
for i = 1, math.min(#keys, limit) do
  local packet = redis.call('HGET', KEYS[2], keys[i])
  local key = string.format('%016d', redis.call('INCR', KEYS[4]))
  redis.call('HSET', KEYS[3], key, packet)
  redis.call('HDEL', KEYS[2], keys[i])
  table.insert(moved, key)
  table.insert(moved, packet)
end
if #keys <= limit then redis.call('HDEL', KEYS[1], ARGV[1]) end
return moved`

/** Most entries one adoption script moves, so a huge dead journal never blocks Redis long. */
const ADOPT_BATCH = 500

type Scripts = {
  hailJournalAppend: (...args: Array<string | Buffer>) => Promise<string>
  hailJournalAdoptBuffer: (...args: Array<string | number>) => Promise<Buffer[]>
}

/**
 * The publish journal in Redis (PublishJournal): one hash of entries per
 * node, beside a counter that keeps keys growing across restarts, and a
 * registry of the nodes that own one, so that a live node can adopt the
 * journal of a node that died and never came back (JournalAdopter). With
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
  readonly nodeId: string
  readonly #redis: Redis
  readonly #prefix: string
  readonly #entries: string
  readonly #counter: string
  readonly #registry: string
  readonly #inFlight = new Set<Promise<unknown>>()
  #liveness = ''

  /** `redis` stays the caller's: the journal never closes it. */
  constructor (redis: Redis, options: RedisJournalOptions) {
    this.#redis = redis
    this.nodeId = options.nodeId
    this.#prefix = options.prefix ?? 'hail:'
    this.#entries = this.#entriesOf(options.nodeId)
    this.#counter = `${this.#entries}:next`
    this.#registry = `${this.#prefix}journal:nodes`
    redis.defineCommand('hailJournalAppend', { lua: APPEND, numberOfKeys: 3 })
    redis.defineCommand('hailJournalAdopt', { lua: ADOPT, numberOfKeys: 6 })
  }

  async append (packet: StoredPacket): Promise<JournalKey> {
    const encoded = encodeJournalEntry(packet)
    return await this.#track(this.#scripts.hailJournalAppend(this.#entries, this.#counter, this.#registry, encoded, this.#liveness, this.nodeId), 'append')
  }

  /**
   * List this journal among the adoptable ones: while `liveness` (a key this
   * node keeps refreshing, e.g. the IM cluster's node key) exists, no other
   * node touches it; once it is gone, any live node may adopt the entries.
   * Replaces what a previous run of this node registered.
   */
  async register (liveness: string): Promise<void> {
    this.#liveness = liveness
    await this.#track(this.#redis.hset(this.#registry, this.nodeId, liveness), 'register')
  }

  /** The other nodes' journals as registered (alive or not: adopt() checks). */
  async owners (): Promise<JournalOwner[]> {
    const all = await this.#track(this.#redis.hgetall(this.#registry), 'read registry')
    return Object.entries(all).filter(([node]) => node !== this.nodeId).map(([node, liveness]) => ({ node, liveness }))
  }

  /**
   * Take over the entries of `owner` if it is dead (see ADOPT), at most
   * `limit` of them: they move into this journal under new keys, and are
   * this node's to publish and complete. [] when the owner lives, has started
   * again, or left nothing; call again while it returns `limit` entries.
   */
  async adopt (owner: JournalOwner, limit = ADOPT_BATCH): Promise<JournalEntry[]> {
    if (this.#liveness === '') throw new StoreError('register() this journal before adopting others')
    if (owner.node === this.nodeId) return []
    const reply = await this.#track(this.#scripts.hailJournalAdoptBuffer(
      this.#registry, this.#entriesOf(owner.node), this.#entries, this.#counter, owner.liveness, this.#liveness,
      owner.node, owner.liveness, limit), 'adopt')
    const entries: JournalEntry[] = []
    for (let i = 0; i + 1 < reply.length; i += 2) {
      entries.push({ key: reply[i]!.toString(), packet: packetCodec.decode(reply[i + 1]!) as unknown as JournalPacket })
    }
    return entries
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

  get #scripts (): Scripts {
    return this.#redis as unknown as Scripts
  }

  #entriesOf (node: string): string {
    return `${this.#prefix}journal:${node}`
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
