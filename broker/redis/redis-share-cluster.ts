import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { ShareCluster } from '../mqtt/shared-subscriptions.js'

const REFRESH_MS = 1000

/**
 * Shared subscriptions across nodes (mqtt/shared-subscriptions.ts): every node with members
 * of a group hears each of its messages, and exactly one of them delivers it. Each node
 * writes how many members it has per group in a Redis hash (`hail:share:{group}/{filter}`,
 * run id → count) and reads the others' every second; a message goes to the node that
 * its (broker id, counter) hashes to among the live runs with members, the same choice on
 * every node. Runs whose heartbeat lapsed (peers) do not count.
 *
 * While a node joins or leaves a group, nodes can disagree for up to a second: a message
 * can then be delivered by two nodes or by none. Within one node the choice is exact.
 */
export class RedisShareCluster implements ShareCluster {
  readonly #redis: Redis
  readonly #run: string
  readonly #peers: () => Promise<string[]>
  readonly #log: Logger
  readonly #prefix: string
  /** Groups this node has members of: its count, and the runs (sorted) that deliver. */
  readonly #groups = new Map<string, { count: number, runs: string[] }>()
  readonly #timer: NodeJS.Timeout

  constructor (options: { redis: Redis, run: string, peers: () => Promise<string[]>, logger: Logger, prefix?: string }) {
    this.#redis = options.redis
    this.#run = options.run
    this.#peers = options.peers
    this.#log = options.logger
    this.#prefix = options.prefix ?? 'hail:share:'
    this.#timer = setInterval(() => { void this.#refresh() }, REFRESH_MS)
    this.#timer.unref()
  }

  members (key: string, count: number): void {
    const redisKey = this.#key(key)
    if (count > 0) {
      const known = this.#groups.get(key)
      if (known === undefined) this.#groups.set(key, { count, runs: [this.#run] })
      else known.count = count
      this.#redis.hset(redisKey, this.#run, count).then(() => this.#refresh(), (err: Error) => this.#log.warn({ err: err.message }, 'shared subscriptions: cannot record members in Redis'))
    } else {
      this.#groups.delete(key)
      this.#redis.hdel(redisKey, this.#run).catch((err: Error) => this.#log.warn({ err: err.message }, 'shared subscriptions: cannot remove members from Redis'))
    }
  }

  mine (key: string, packet: { brokerId?: string, brokerCounter?: number, topic: string }): boolean {
    const runs = this.#groups.get(key)?.runs
    if (runs === undefined || runs.length <= 1) return true
    const chosen = runs[hash(`${packet.brokerId ?? ''}:${packet.brokerCounter ?? 0}:${packet.topic}`) % runs.length]
    return chosen === this.#run
  }

  async #refresh (): Promise<void> {
    if (this.#groups.size === 0) return
    try {
      const alive = new Set([this.#run, ...await this.#peers()])
      for (const [key, group] of this.#groups) {
        const counts = await this.#redis.hgetall(this.#key(key))
        const runs = Object.entries(counts).filter(([run, n]) => Number(n) > 0 && alive.has(run)).map(([run]) => run)
        if (!runs.includes(this.#run)) runs.push(this.#run)
        group.runs = runs.sort()
        // Entries of runs that are gone for good are left to expire with the group's key.
        await this.#redis.pexpire(this.#key(key), 24 * 3600_000)
      }
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'shared subscriptions: refresh failed (Redis away?)')
    }
  }

  #key (key: string): string {
    return this.#prefix + key.replace('\u0000', '/')
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    const keys = [...this.#groups.keys()]
    this.#groups.clear()
    await Promise.all(keys.map(async (key) => await this.#redis.hdel(this.#key(key), this.#run).catch(() => 0)))
  }
}

/** FNV-1a, 32 bits: the same number on every node for the same string. */
function hash (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
