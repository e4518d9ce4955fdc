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
  // Back within half a second of Redis accepting connections again (issue 18: up to 9 s
  // seen with 1 s steps and ioredis' loading wait of up to 10 s between ready checks).
  retryStrategy: (times: number) => Math.min(times * 50, 500),
  connectTimeout: 5000,
  enableReadyCheck: true,
  // While Redis loads its AOF after a restart, ask again every 200 ms, not after its own
  // (often pessimistic) loading ETA.
  maxLoadingRetryTime: 200,
  lazyConnect: true
}

/** Redis' answers to a missing or wrong password (and ACL user). */
const AUTH_REFUSAL = /\b(NOAUTH|WRONGPASS|NOPERM)\b|invalid password|invalid username-password/i

/**
 * Opens the connection to `url` and waits until it answers. A Redis that
 * cannot be reached at start is a StoreError (nodes start only with their
 * stores); later outages are survived (see RedisHealth).
 */
export async function openRedis (url: string, logger: Logger): Promise<Redis> {
  const redis = new Redis(url, { ...redisConnectionOptions, retryStrategy: () => null })
  // ioredis prints unhandled 'error' events; they are logged by RedisHealth once running.
  // An AUTH refusal (NOAUTH, WRONGPASS) arrives as an 'error' event; the command that then
  // fails only says "Connection is closed". Keep the first to say what went wrong.
  let refusal: Error | undefined
  const onError = (err: Error): void => {
    if (refusal === undefined && AUTH_REFUSAL.test(err.message)) refusal = err
    logger.debug({ err: err.message }, 'redis connection error')
  }
  redis.on('error', onError)
  try {
    await redis.connect()
    await redis.ping()
  } catch (err) {
    redis.disconnect()
    const cause = refusal ?? (AUTH_REFUSAL.test((err as Error).message) ? err as Error : undefined)
    if (cause !== undefined) {
      throw new StoreError(`Redis at ${redactUrl(url)} refused the login: ${cause.message} ` +
        '(give the password in the URL: redis://:PASSWORD@host:port, or redis://USER:PASSWORD@host:port with ACL users)', { cause })
    }
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
