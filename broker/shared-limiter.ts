import type { Redis } from 'ioredis'
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible'

export interface SharedLimiterOptions {
  /** Told apart by this in memory and in Redis (`hail:limit:{name}:{key}`). */
  name: string
  /** What a key may consume per window. */
  points: number
  /** The window in seconds, from a key's first point (a fixed window, not a sliding one). */
  duration: number
  /** Every node's own connection to the shared Redis; without one the count is this process's alone. */
  redis?: Redis
  /**
   * Each point also renews the key's expiry (the window runs from its last
   * point, not its first). In Redis this is one script with the count, so
   * nodes counting the same key at once lose nothing; in memory the caller
   * renews with set() (in-process steps run in order).
   */
  renew?: boolean
}

/**
 * rate-limiter-flexible's step in Redis (its customIncrTtlLuaScript option),
 * with the expiry set at every point: ARGV[1] the points, ARGV[2] the window
 * in seconds. Returns what the library's own script returns.
 */
const INCR_RENEW_SCRIPT = `local consumed = redis.call('incrby', KEYS[1], ARGV[1])
redis.call('expire', KEYS[1], ARGV[2])
return {consumed, 1000 * ARGV[2]}`

/**
 * A count per key (rate-limiter-flexible): in this process's memory on one
 * node, and in Redis when nodes share one, so a user or an address counts
 * the same whichever node it reaches. Redis counts with one Lua script per
 * step (atomic across nodes) and keeps whole seconds. A Redis command that
 * fails is counted in this node's memory instead (the library's insurance
 * limiter) rather than letting the attempt through or failing the request.
 *
 * For what is counted off the hot path (logins, call invites): a Redis
 * round trip per step. The per-message IM limiter stays in process
 * (broker/im/rate-limiter.ts).
 */
export function sharedLimiter (options: SharedLimiterOptions): RateLimiterAbstract {
  const { name, points, duration, redis, renew = false } = options
  const memory = new RateLimiterMemory({ keyPrefix: name, points, duration })
  if (redis === undefined) return memory
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `hail:limit:${name}`,
    points,
    duration,
    insuranceLimiter: memory,
    ...(renew ? { customIncrTtlLuaScript: INCR_RENEW_SCRIPT } : {})
  })
}
