import type { Redis } from 'ioredis'
import type { ImStores } from './im-stores.js'
import { RedisConversationStore } from './redis-conversation-store.js'
import { RedisKeyDirectory } from './redis-key-directory.js'
import { DEFAULT_REDIS_PREFIX } from '../../storage/index.js'
import { RedisMessageLog } from './redis-message-log.js'
import { RedisPushTokenStore } from './redis-push-token-store.js'
import { RedisReceiptStore } from './redis-receipt-store.js'
import { RedisRecallIndex } from './redis-recall-index.js'

export interface RedisImStoresOptions {
  /** Prepended to every key (default 'hail:'); nodes of one deployment share it, deployments do not. */
  prefix?: string
}

/**
 * Every IM store on one Redis client, which the caller owns and closes after
 * close() resolved. Every write resolves once Redis replied: run Redis with
 * `appendonly yes` and `appendfsync always` for that to mean "on disk". Make
 * the client with REDIS_STORE_CLIENT_OPTIONS so writes reject soon when Redis
 * is down. Works on a standalone Redis (>= 5, or behind Sentinel); not on
 * Redis Cluster: a few scripts touch keys of several users.
 */
export function createRedisImStores (client: Redis, options: RedisImStoresOptions = {}): ImStores {
  const store = { prefix: options.prefix ?? DEFAULT_REDIS_PREFIX }
  const log = new RedisMessageLog(client, store)
  const conversations = new RedisConversationStore(client, store)
  const receipts = new RedisReceiptStore(client, store)
  const keys = new RedisKeyDirectory(client, store)
  const pushTokens = new RedisPushTokenStore(client, store)
  const recalls = new RedisRecallIndex(client, store)
  return {
    log,
    conversations,
    receipts,
    keys,
    pushTokens,
    recalls,
    async close () {
      await Promise.all([log.close(), conversations.close(), receipts.close(), keys.close(), pushTokens.close(), recalls.close()])
    }
  }
}
