import pino from 'pino'
import { StoreError } from '../errors.js'
import { openRedis } from '../redis/redis-connection.js'
import { LoginGuard } from '../users/login-guard.js'
import { RedisUserNotices } from '../users/redis-user-notices.js'
import { RedisUserStore } from '../users/redis-user-store.js'
import { TokenService } from '../users/tokens.js'
import { runAdminOp, type AdminOp } from './admin-ops.js'

/**
 * Run an admin op on the users a Redis deployment shares (`hail user add
 * --redis URL`): every node reads them from there, so no daemon needs to be
 * asked; the op uses the same store and token code a node uses. A deleted
 * user is announced on Redis, and every running node closes that user's
 * connections (RedisUserNotices). Throws StoreError when Redis cannot be
 * reached.
 */
export async function runRedisAdminOp (url: string, op: AdminOp, args: unknown): Promise<unknown> {
  const redis = await openRedis(url, pino({ level: 'silent' }))
  const users = new RedisUserStore(redis)
  try {
    const deleted: string[] = []
    const result = await runAdminOp({
      users,
      tokens: new TokenService(users),
      onUserDeleted: (name) => deleted.push(name),
      // The counts live in Redis (shared-limiter.ts): lifted here whether or not a node runs; the
      // notice is for nodes that run a version which counted in memory.
      unlockUser: async (name) => {
        const guard = new LoginGuard()
        guard.share(redis)
        const { wasLocked, failures } = await guard.unlock(name)
        return { name, nodes: await RedisUserNotices.publish(redis, { op: 'user.unlock', name }), wasLocked, failures }
      }
    }, op, args)
    for (const name of deleted) {
      await RedisUserNotices.publish(redis, { op: 'user.del', name }).catch((err: unknown) => {
        throw new StoreError(`user ${name} was deleted, but the running nodes could not be told to close its connections: ${(err as Error).message}`, { cause: err })
      })
    }
    return result
  } finally {
    await users.close()
    await redis.quit().catch(() => redis.disconnect())
  }
}
