import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import { StoreError } from '../errors.js'
import { REDIS_STORE_CLIENT_OPTIONS } from '../storage/index.js'

/**
 * How every Hail connection to Redis behaves while Redis is away (the Redis
 * stores' REDIS_STORE_CLIENT_OPTIONS): a command in flight or issued during
 * an outage fails at the first failed reconnect, and is never resent behind
 * its caller's back, so a store write that cannot be made fails instead of
 * hanging and its PUBACK is withheld; reconnection itself never stops.
 */
export const redisConnectionOptions: RedisOptions = {
  ...REDIS_STORE_CLIENT_OPTIONS,
  retryStrategy: (times: number) => Math.min(times * 100, 1000),
  connectTimeout: 5000,
  enableReadyCheck: true,
  lazyConnect: true
}

/**
 * Opens the connection to `url` and waits until it answers. A Redis that
 * cannot be reached at start is a StoreError (nodes start only with their
 * stores); later outages are survived (see RedisHealth).
 */
export async function openRedis (url: string, logger: Logger): Promise<Redis> {
  const redis = new Redis(url, { ...redisConnectionOptions, retryStrategy: () => null })
  // ioredis prints unhandled 'error' events; they are logged by RedisHealth once running.
  const onError = (err: Error): void => { logger.debug({ err: err.message }, 'redis connection error') }
  redis.on('error', onError)
  try {
    await redis.connect()
    await redis.ping()
  } catch (err) {
    redis.disconnect()
    throw new StoreError(`cannot reach Redis at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err })
  }
  // Connected: from now on reconnect forever.
  redis.options.retryStrategy = redisConnectionOptions.retryStrategy
  return redis
}

/** `url` without its password, for logs and errors. */
export function redactUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(invalid URL)'
  }
}
