import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { Counter, Gauge, Histogram } from 'prom-client'
import MQEmitterRedis from 'mqemitter-redis'
import type { MQEmitter } from 'mqemitter'
import type { FileIndex } from '../files/index.js'
import { RedisImCluster } from '../im/cluster/index.js'
import { createRedisImStores, type ImStores } from '../im/store/index.js'
import type { Metrics } from '../metrics.js'
import { RedisJournal } from '../persistence/redis-journal.js'
import { RedisPersistence } from '../persistence/redis-persistence.js'
import { JournalAdopter } from '../redis/journal-adopter.js'
import { openRedis, redactUrl } from '../redis/redis-connection.js'
import { checkRedisDurability } from '../redis/redis-durability.js'
import { keepSubscribed, type RedisEmitterInternals } from '../redis/emitter-resubscribe.js'
import { timeCommands } from '../redis/command-latency.js'
import { RedisHealth } from '../redis/redis-health.js'
import { RedisShareCluster } from '../redis/redis-share-cluster.js'
import type { ShareCluster } from '../mqtt/shared-subscriptions.js'
import { RedisUserNotices, RedisUserStore } from '../users/index.js'
import type { Backend, BackendOptions, BackendStart, BackendStatus } from './backend.js'
import { DataDir } from './data-dir.js'
import { runIdOf } from './node-id.js'
import { fileIndexIn, journalMetrics } from './embedded-backend.js'

/**
 * A journaled publish not finished after this many ms failed in aedes after
 * its PUBACK (a store write during a Redis outage) and is published again.
 */
const STUCK_RETRY_MS = 10_000

type Emitter = MQEmitterRedis.MQEmitterRedis

interface Parts {
  dir: DataDir
  redis: Redis
  health: RedisHealth
  persistence: RedisPersistence
  emitter: Emitter
  options: BackendOptions
}

/**
 * Several nodes on one Redis (config `redis`): every store but files moves
 * to Redis, each the Redis implementation of the interface the embedded
 * backend has on level, plus what keeps the nodes in step — mqemitter-redis
 * routing publishes between them, the IM cluster (membership, presence,
 * node liveness), adoption of dead nodes' publish journals, and account
 * notices. The data directory keeps the files' index and the node id.
 *
 * Connections: one for Hail's stores and journal, one the MQTT persistence
 * owns, two for the emitter (publish and subscribe), one for the IM
 * cluster. All of them fail commands soon while Redis is
 * away and reconnect by themselves; `healthy` says whether all are up.
 */
export class RedisBackend implements Backend {
  readonly kind = 'redis'
  readonly nodeId: string
  readonly runId: string
  readonly redis: Redis
  readonly persistence: RedisPersistence
  readonly emitter: MQEmitter
  readonly users: RedisUserStore
  readonly imStores: ImStores
  readonly journal: RedisJournal
  readonly fileIndex: FileIndex
  readonly imCluster: RedisImCluster
  readonly #dir: DataDir
  readonly #health: RedisHealth
  readonly #options: BackendOptions
  #notices: RedisUserNotices | undefined
  #adopter: JournalAdopter | undefined
  #adoptions: Counter | undefined
  #adoptedEntries: Counter | undefined
  #durable: BackendStart['durable'] | undefined
  #aedes: BackendStart['aedes'] | undefined
  #redelivering = false

  private constructor (parts: Parts) {
    const { dir, redis, options } = parts
    this.#dir = dir
    this.#health = parts.health
    this.#options = options
    this.nodeId = dir.nodeId
    this.runId = runIdOf(dir.nodeId)
    this.redis = redis
    this.persistence = parts.persistence
    this.emitter = parts.emitter
    this.users = new RedisUserStore(redis)
    this.imStores = createRedisImStores(redis)
    this.journal = new RedisJournal(redis, { nodeId: dir.nodeId })
    this.fileIndex = fileIndexIn(dir)
    // Its own connection, which retries a few times: presence resyncs after an outage (im/cluster).
    this.imCluster = new RedisImCluster({
      redis: options.config.redis ?? '',
      nodeId: this.runId,
      emitter: parts.emitter,
      logger: options.logger.child({ part: 'im-cluster' })
    })
  }

  /** Connects, checks Redis' durability settings and opens every store. */
  static async open (options: BackendOptions): Promise<RedisBackend> {
    const { config, metrics } = options
    const url = config.redis
    if (url === null) throw new TypeError('RedisBackend needs config.redis')
    const dir = await DataDir.open(config.dataDir, { onBatch: journalMetrics(options) })
    // Among several nodes every log line says whose it is: the node id of its data directory
    // (the server's own logger, so an embedding app's is left as it was).
    options.logger.setBindings({ node: dir.nodeId })
    const log = options.logger.child({ part: 'redis' })
    let redis: Redis | undefined
    let backend: RedisBackend | undefined
    try {
      redis = await openRedis(url, log)
      const durability = await checkRedisDurability(redis, { requireFsync: config.redisRequireFsync, logger: log })
      const health = new RedisHealth(log)
      const persistenceConnection = redis.duplicate()
      const pubConn = redis.duplicate()
      const subConn = redis.duplicate()
      const emitter = MQEmitterRedis({ pubConn, subConn })
      // mqemitter-redis reports its connections' errors here (untyped); RedisHealth logs them
      ;(emitter as unknown as { state: NodeJS.EventEmitter }).state.on('error', () => {})
      keepSubscribed(emitter as unknown as RedisEmitterInternals, subConn, log, () => { if (backend !== undefined) backend.#redeliverConnected() })
      await Promise.all([persistenceConnection, pubConn, subConn].map(async (c) => {
        if (c.status === 'wait') await c.connect()
      }))
      const commandSeconds = new Histogram({
        name: 'hail_redis_command_seconds',
        help: 'Time from sending a Redis command to its reply, by connection: stores (the stores and the journal), persistence (MQTT sessions and queues), emitter (cross-node publishes)',
        labelNames: ['connection'] as const,
        buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
        registers: [metrics.registry]
      })
      timeCommands(redis, commandSeconds, 'stores')
      timeCommands(persistenceConnection, commandSeconds, 'persistence')
      timeCommands(pubConn, commandSeconds, 'emitter')
      health.watch('stores', redis)
      health.watch('mqtt persistence', persistenceConnection)
      // aedes.close() closes the emitter, before this node closes
      const emitterClosing = (): boolean => (emitter as unknown as { closing?: boolean }).closing === true
      health.watch('emitter publish', pubConn, emitterClosing)
      health.watch('emitter subscribe', subConn, emitterClosing)
      const persistence = new RedisPersistence(persistenceConnection, {
        maxQueue: config.limits.maxQueue,
        onQueueFull: (clientId) => {
          metrics.limitHits.inc({ limit: 'maxQueue' })
          log.debug({ clientId }, 'offline queue full: message dropped')
        }
      })
      backend = new RedisBackend({ dir, redis, health, persistence, emitter, options })
      backend.#registerMetrics(metrics)
      log.info({ redis: redactUrl(url), ...durability }, 'stores in Redis')
      return backend
    } catch (err) {
      redis?.disconnect()
      await dir.close().catch(() => {})
      throw err
    }
  }

  get healthy (): boolean {
    return this.#health.healthy
  }

  shareCluster (logger: Logger): ShareCluster {
    return new RedisShareCluster({
      redis: this.redis,
      run: this.runId,
      peers: async () => (await this.imCluster.peers()).map((p) => p.run),
      logger
    })
  }

  async status (): Promise<BackendStatus> {
    const [latencyMs, peers] = await Promise.all([this.#pingMs(), this.imCluster.peers().catch(() => undefined)])
    return {
      store: 'redis',
      redis: { up: this.#health.healthy, down: this.#health.down, latencyMs },
      ...(peers === undefined ? {} : { peers })
    }
  }

  /** One PING's round trip in ms, or null when Redis does not answer within a second. */
  async #pingMs (): Promise<number | null> {
    const t0 = performance.now()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), 1000) })
    try {
      const answered = await Promise.race([this.redis.ping().then(() => true, () => false), timeout])
      return answered === true ? Math.round((performance.now() - t0) * 1000) / 1000 : null
    } finally {
      clearTimeout(timer)
    }
  }

  /** Redis mode's own figures in /metrics, read at collection. */
  #registerMetrics (metrics: Metrics): void {
    const backend = this
    const registers = [metrics.registry]
    // eslint-disable-next-line no-new
    new Gauge({ name: 'hail_redis_up', help: '1 while every Redis connection of this node is ready, else 0', registers, collect () { this.set(backend.healthy ? 1 : 0) } })
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'hail_redis_ping_seconds',
      help: 'Round trip of one PING to Redis at collection (absent when it did not answer within 1 s)',
      registers,
      async collect () {
        const ms = await backend.#pingMs()
        if (ms === null) this.reset()
        else this.set(ms / 1000)
      }
    })
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'hail_cluster_peers',
      help: 'Other nodes on this Redis alive now (heartbeat within the liveness TTL)',
      registers,
      async collect () { this.set((await backend.imCluster.peers().catch(() => [])).length) }
    })
    // read from Redis at collection: the cluster's figures, the same on every node
    metrics.sources.retainedMessages = async () => await within(1000, backend.persistence.retainedCount())
    metrics.sources.queuedPackets = async () => await within(1000, backend.persistence.queuedCount())
    this.#adoptions = new Counter({ name: 'hail_journal_adoptions_total', help: 'Publish journals of dead nodes this node took over', registers })
    this.#adoptedEntries = new Counter({ name: 'hail_journal_adopted_entries_total', help: 'Entries of dead nodes\' publish journals this node took over and published', registers })
  }

  /**
   * Publishes this node acknowledged before its last stop and did not
   * finish, published now (returns how many); account notices from every
   * node; this node's publish journal registered
   * under the IM cluster's liveness key (adoptable once that key lapses),
   * dead nodes' journals adopted, and publishes that failed after their
   * PUBACK (a Redis write during an outage) published again.
   */
  async start (parts: BackendStart): Promise<number> {
    const { aedes, durable } = parts
    this.#aedes = aedes
    const logger = this.#options.logger.child({ part: 'journal' })
    this.#notices = await RedisUserNotices.listen({ redis: this.redis, logger: this.#options.logger.child({ part: 'users' }), onUserDeleted: parts.disconnectUser, onUserUnlocked: parts.unlockUser })
    this.#adopter = new JournalAdopter({
      journal: this.journal,
      durable,
      aedes,
      liveness: this.imCluster.livenessKey,
      logger,
      onAdopted: (entries) => { this.#adoptions?.inc(); this.#adoptedEntries?.inc(entries) }
    })
    await this.#adopter.register()
    const replayed = await durable.replay(aedes)
    this.#durable = durable
    durable.startRetrying(aedes, STUCK_RETRY_MS)
    await this.#adopter.start()
    return replayed
  }

  /**
   * After this node's emitter subscriber came back: each connected persistent
   * session gets what its queue holds and it was not sent (see
   * RedisPersistence.redeliver), a few sessions at a time.
   */
  #redeliverConnected (): void {
    const aedes = this.#aedes
    if (aedes === undefined || this.#redelivering) return
    this.#redelivering = true
    const log = this.#options.logger.child({ part: 'redis' })
    const clients = Object.values((aedes as unknown as { clients: Record<string, { clean?: boolean, connected?: boolean }> }).clients)
      .filter((c) => c.clean === false && c.connected === true)
    let next = 0
    let sent = 0
    const worker = async (): Promise<void> => {
      while (next < clients.length) {
        const client = clients[next++] as unknown as Parameters<RedisPersistence['redeliver']>[0]
        sent += await this.persistence.redeliver(client).catch((err: unknown) => {
          log.warn({ err: (err as Error).message, clientId: client.id }, 'redelivering a queue after the emitter reconnected failed; the next connection of that client gets it')
          return 0
        })
      }
    }
    Promise.all(Array.from({ length: Math.min(8, clients.length) }, worker)).then(() => {
      if (sent > 0) log.info({ sent, sessions: clients.length }, 'sent connected sessions what was queued while the emitter was reconnecting')
    }, () => {}).finally(() => { this.#redelivering = false })
  }

  userDeleted (user: string): void {
    this.#notices?.userDeleted(user)
  }

  userUnlocked (user: string): void {
    this.#notices?.userUnlocked(user)
  }

  async stop (): Promise<void> {
    await this.#notices?.close()
    await this.#adopter?.close()
    this.#durable?.stopRetrying()
  }

  /**
   * Closes what is left after the server closed its parts: aedes closes the
   * emitter, destroying the persistence closes its connection; this waits for
   * the stores' writes and closes the rest.
   */
  async close (): Promise<void> {
    this.#health.close()
    await this.imStores.close()
    await this.journal.flush()
    await this.users.close()
    await new Promise<void>((resolve) => this.emitter.close(() => resolve()))
    await this.redis.quit().catch(() => { this.redis.disconnect() })
    await this.#dir.close()
  }
}

/** What `work` resolves to, or undefined if it fails or takes longer than `ms` (a scrape must not hang on Redis). */
async function within<T> (ms: number, work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms) })
  try {
    return await Promise.race([work.catch(() => undefined), timeout])
  } finally {
    clearTimeout(timer)
  }
}
