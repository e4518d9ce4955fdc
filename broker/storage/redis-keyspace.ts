import { createHash } from 'node:crypto'
import type { Redis, RedisOptions } from 'ioredis'
import { HailError, StoreError } from '../errors.js'

/** The key prefix the Redis stores use unless told otherwise. */
export const DEFAULT_REDIS_PREFIX = 'hail:'

/**
 * Client options under which a Redis store's promise settles soon when
 * Redis goes away: a command in flight, or issued while disconnected, is
 * rejected at the first failed reconnect instead of waiting in ioredis'
 * queue through 20 of them (about half a minute), and a command whose reply
 * was lost is never sent a second time behind the caller's back. The client
 * still reconnects by itself, and the stores work again once it has.
 */
export const REDIS_STORE_CLIENT_OPTIONS: Readonly<Pick<RedisOptions, 'maxRetriesPerRequest' | 'autoResendUnfulfilledCommands'>> = Object.freeze({
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false
})

export interface RedisKeyspaceOptions {
  /** Prepended to every key, so tests and several deployments can share one Redis (default 'hail:'). */
  prefix?: string
}

/** A Lua script run by its SHA, which ioredis loads on each new connection. */
export type RedisScript = (keys: string[], args: Array<string | number>) => Promise<unknown>

/**
 * What every Redis store shares: the client it was given (and does not own),
 * its key prefix, its Lua scripts, and the writes in flight that close()
 * waits for. Every Redis error becomes a StoreError with the Redis error as
 * its cause; a promise resolves only once Redis replied.
 */
export class RedisKeyspace {
  readonly client: Redis
  readonly prefix: string
  readonly #what: string
  readonly #pending = new Set<Promise<unknown>>()
  #closed = false

  constructor (client: Redis, what: string, options: RedisKeyspaceOptions = {}) {
    const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
    if (typeof prefix !== 'string') throw new StoreError(`the ${what}'s key prefix must be a string`)
    this.client = client
    this.prefix = prefix
    this.#what = what
  }

  /** A key under the prefix. */
  key (...parts: string[]): string {
    return this.prefix + parts.join(':')
  }

  /**
   * The prefix as Redis sees it, client keyPrefix included: for the few keys
   * a script must build itself (ioredis prefixes only KEYS).
   */
  get rawPrefix (): string {
    return (this.client.options.keyPrefix ?? '') + this.prefix
  }

  /** Defines a script on the client under a name made from its text (so stores sharing a client never clash). */
  script (lua: string, numberOfKeys?: number): RedisScript {
    const name = 'hail' + createHash('sha1').update(lua).digest('hex').slice(0, 16)
    const client = this.client as unknown as Record<string, (...args: Array<string | number>) => Promise<unknown>>
    if (typeof client[name] !== 'function') {
      this.client.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys })
    }
    if (numberOfKeys !== undefined) return (keys, args) => client[name](...keys, ...args)
    return (keys, args) => client[name](keys.length, ...keys, ...args)
  }

  /** Runs a read: Redis errors become StoreErrors saying what failed. */
  async read<T> (what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (cause) {
      throw new StoreError(`cannot read ${what}: ${(cause as Error).message}`, { cause })
    }
  }

  /** Runs a write that close() waits for; refused once closed. */
  write<T> (what: string, operation: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError(`the ${this.#what} is closed`))
    const running = (async () => {
      try {
        return await operation()
      } catch (cause) {
        if (cause instanceof HailError) throw cause
        throw new StoreError(`cannot ${what}: ${(cause as Error).message}`, { cause })
      }
    })()
    this.#pending.add(running)
    const forget = (): void => { this.#pending.delete(running) }
    running.then(forget, forget)
    return running
  }

  /** Refuses new writes and waits for those in flight; leaves the client open. */
  async close (): Promise<void> {
    this.#closed = true
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
  }
}

/** UTF-8 byte order, as level orders its keys. */
export function byteOrder (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
