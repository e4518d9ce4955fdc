import { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'

export interface RedisHealthEvents {
  /** Every watched connection is ready again. */
  up: []
  /** A watched connection was lost (Redis stopped, restarting or unreachable). */
  down: [name: string]
}

/**
 * Whether every Redis connection a node holds (its own, the MQTT
 * persistence's, the emitter's two) is ready. /healthz answers 503 while one
 * is not. Also the single place their 'error' events are logged: without a
 * listener ioredis would print them itself.
 */
export class RedisHealth extends EventEmitter<RedisHealthEvents> {
  readonly #logger: Logger
  readonly #down = new Set<string>()
  readonly #watched: Array<{ redis: Redis, listeners: Array<[string, (...args: any[]) => void]> }> = []

  constructor (logger: Logger) {
    super()
    this.#logger = logger
  }

  get healthy (): boolean {
    return this.#down.size === 0
  }

  /** Names of the connections that are not ready. */
  get down (): string[] {
    return [...this.#down]
  }

  /** `closing` tells a connection being closed on purpose (an owner's shutdown) from a lost one. */
  watch (name: string, redis: Redis, closing: () => boolean = () => false): void {
    const onReady = (): void => {
      if (!this.#down.delete(name)) return
      this.#logger.info({ connection: name }, 'redis connection back')
      if (this.#down.size === 0) this.emit('up')
    }
    const onLost = (): void => {
      if (this.#down.has(name) || closing()) return
      this.#down.add(name)
      this.#logger.error({ connection: name }, 'redis connection lost: store writes fail and PUBACKs are withheld until it is back')
      this.emit('down', name)
    }
    const onError = (err: Error): void => {
      this.#logger.warn({ connection: name, err: err.message }, 'redis connection error')
    }
    const listeners: Array<[string, (...args: any[]) => void]> = [['ready', onReady], ['close', onLost], ['error', onError]]
    for (const [event, fn] of listeners) redis.on(event, fn)
    this.#watched.push({ redis, listeners })
    if (redis.status !== 'ready') onLost()
  }

  /** Stop watching (before the connections are closed on purpose). */
  close (): void {
    for (const { redis, listeners } of this.#watched) {
      for (const [event, fn] of listeners) {
        if (event !== 'error') redis.off(event, fn)
      }
    }
    this.#watched.length = 0
  }
}
