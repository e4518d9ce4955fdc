import type { Redis } from 'ioredis'
import MQEmitterRedis from 'mqemitter-redis'
import type { Logger } from 'pino'
import { createRedisImStores } from '../im/store/redis-im-stores.js'
import type { ImStores } from '../im/store/im-stores.js'
import { RedisJournal } from '../persistence/redis-journal.js'
import { RedisPersistence, type RedisPersistenceOptions } from '../persistence/redis-persistence.js'
import { RedisUserStore } from '../users/redis-user-store.js'
import { nodeId } from './node-id.js'
import { openRedis, redactUrl } from './redis-connection.js'
import { checkRedisDurability } from './redis-durability.js'
import { RedisHealth } from './redis-health.js'

export interface RedisNodeOptions {
  url: string
  /** Refuse to start when Redis does not fsync every write (config `redisRequireFsync`). */
  requireFsync: boolean
  /** The node's data directory, where its node id is kept. */
  dataDir: string
  persistence: RedisPersistenceOptions
  logger: Logger
}

type Emitter = MQEmitterRedis.MQEmitterRedis

/**
 * Everything a node keeps in Redis when config `redis` is set: the same store
 * interfaces the embedded mode has on level, each with its Redis
 * implementation, plus the emitter that routes publishes between nodes. The
 * server uses whichever set it opened; nothing above the interfaces differs.
 *
 * Connections: one for Hail's stores and journal, one the MQTT persistence
 * owns, two for the emitter (publish and subscribe). All of them fail
 * commands soon while Redis is away and reconnect by themselves; `health`
 * says whether all are up.
 */
export class RedisNode {
  readonly redis: Redis
  readonly health: RedisHealth
  readonly persistence: RedisPersistence
  readonly emitter: Emitter
  readonly imStores: ImStores
  readonly users: RedisUserStore
  readonly journal: RedisJournal
  readonly nodeId: string

  private constructor (parts: Pick<RedisNode, 'redis' | 'health' | 'persistence' | 'emitter' | 'imStores' | 'users' | 'journal' | 'nodeId'>) {
    this.redis = parts.redis
    this.health = parts.health
    this.persistence = parts.persistence
    this.emitter = parts.emitter
    this.imStores = parts.imStores
    this.users = parts.users
    this.journal = parts.journal
    this.nodeId = parts.nodeId
  }

  /** Connects, checks Redis' durability settings and opens every store. */
  static async open (options: RedisNodeOptions): Promise<RedisNode> {
    const log = options.logger
    const redis = await openRedis(options.url, log)
    try {
      const durability = await checkRedisDurability(redis, { requireFsync: options.requireFsync, logger: log })
      const id = await nodeId(options.dataDir)
      const health = new RedisHealth(log)
      const persistenceConnection = redis.duplicate()
      const pubConn = redis.duplicate()
      const subConn = redis.duplicate()
      const emitter = MQEmitterRedis({ pubConn, subConn })
      // mqemitter-redis reports its connections' errors here (untyped); RedisHealth logs them
      ;(emitter as unknown as { state: NodeJS.EventEmitter }).state.on('error', () => {})
      await Promise.all([persistenceConnection, pubConn, subConn].map(async (c) => {
        if (c.status === 'wait') await c.connect()
      }))
      health.watch('stores', redis)
      health.watch('mqtt persistence', persistenceConnection)
      // aedes.close() closes the emitter, before this node closes
      const emitterClosing = (): boolean => (emitter as unknown as { closing?: boolean }).closing === true
      health.watch('emitter publish', pubConn, emitterClosing)
      health.watch('emitter subscribe', subConn, emitterClosing)
      const node = new RedisNode({
        redis,
        health,
        persistence: new RedisPersistence(persistenceConnection, options.persistence),
        emitter,
        imStores: createRedisImStores(redis),
        users: new RedisUserStore(redis),
        journal: new RedisJournal(redis, { nodeId: id }),
        nodeId: id
      })
      log.info({ redis: redactUrl(options.url), nodeId: id, ...durability }, 'stores in Redis')
      return node
    } catch (err) {
      redis.disconnect()
      throw err
    }
  }

  /**
   * Closes what is left after the server closed its parts: aedes closes the
   * emitter, destroying the persistence closes its connection; this waits for
   * the stores' writes and closes the rest.
   */
  async close (): Promise<void> {
    this.health.close()
    await this.journal.flush()
    await this.users.close()
    await new Promise<void>((resolve) => this.emitter.close(() => resolve()))
    await this.redis.quit().catch(() => { this.redis.disconnect() })
  }
}
