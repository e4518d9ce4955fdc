import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { StoreError } from '../errors.js'

export interface RedisDurability {
  appendonly: string
  appendfsync: string
  /** AOF on and fsynced before every reply: a PUBACK survives a Redis crash or power loss. */
  fsyncEveryWrite: boolean
  /** What Redis does at `maxmemory`: only `noeviction` never deletes stored messages. */
  maxmemoryPolicy: string
}

/**
 * "A PUBACK means durable" holds in Redis mode only when Redis writes its AOF
 * and fsyncs it before it answers (`appendonly yes`, `appendfsync always`).
 * Reads both settings; when they fall short, refuses to start with
 * `requireFsync`, and otherwise logs a loud warning. A Redis that forbids
 * CONFIG (managed services often rename it) counts as unknown: a warning,
 * or a refusal with `requireFsync`.
 */
export async function checkRedisDurability (redis: Redis, options: { requireFsync: boolean, logger: Logger }): Promise<RedisDurability> {
  let appendonly = 'unknown'
  let appendfsync = 'unknown'
  try {
    appendonly = await configGet(redis, 'appendonly')
    appendfsync = await configGet(redis, 'appendfsync')
  } catch (err) {
    options.logger.warn({ err: (err as Error).message }, 'cannot read the Redis durability settings (CONFIG GET failed)')
  }
  let maxmemoryPolicy = 'unknown'
  try {
    maxmemoryPolicy = await configGet(redis, 'maxmemory-policy')
  } catch {}
  if (maxmemoryPolicy !== 'noeviction') {
    // Any other policy lets Redis delete keys when full: queued messages, logs, sessions.
    options.logger.warn({ maxmemoryPolicy },
      `DURABILITY WARNING: Redis runs with maxmemory-policy ${maxmemoryPolicy}: when it reaches maxmemory it may evict ` +
      'stored messages and sessions without telling anyone. Set maxmemory-policy noeviction (README, "Scale out")')
  }
  const fsyncEveryWrite = appendonly === 'yes' && appendfsync === 'always'
  const result = { appendonly, appendfsync, fsyncEveryWrite, maxmemoryPolicy }
  if (fsyncEveryWrite) return result
  const message = `Redis runs with appendonly ${appendonly} and appendfsync ${appendfsync}: ` +
    'acknowledged messages can be lost if Redis crashes. Set appendonly yes and appendfsync always ' +
    '(README, "Scale out")'
  if (options.requireFsync) {
    throw new StoreError(`${message}; refusing to start because redisRequireFsync is set`)
  }
  options.logger.warn({ appendonly, appendfsync }, `DURABILITY WARNING: ${message}`)
  return result
}

async function configGet (redis: Redis, name: string): Promise<string> {
  const reply = await redis.config('GET', name) as string[]
  return reply[1] ?? 'unknown'
}
