import pino from 'pino'
import { openRedis } from '../redis/redis-connection.js'
import { RedisUserStore } from '../users/redis-user-store.js'
import { TokenService } from '../users/tokens.js'
import { runAdminOp, type AdminOp } from './admin-ops.js'

/**
 * Run an admin op on the users a Redis deployment shares (`hail user add
 * --redis URL`): every node reads them from there, so no daemon needs to be
 * asked; the op uses the same store and token code a node uses. Throws
 * StoreError when Redis cannot be reached.
 */
export async function runRedisAdminOp (url: string, op: AdminOp, args: unknown): Promise<unknown> {
  const redis = await openRedis(url, pino({ level: 'silent' }))
  const users = new RedisUserStore(redis)
  try {
    return await runAdminOp({ users, tokens: new TokenService(users) }, op, args)
  } finally {
    await users.close()
    await redis.quit().catch(() => redis.disconnect())
  }
}
