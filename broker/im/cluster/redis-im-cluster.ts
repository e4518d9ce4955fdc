import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { Redis } from 'ioredis'
import pino, { type Logger } from 'pino'
import type { Membership } from '../membership.js'
import type { PresenceTracker } from '../presence.js'
import type { Publisher } from '../publisher.js'
import { ClusterPresence } from './cluster-presence.js'
import type { ImCluster, ImEmitter, MembershipSource } from './im-cluster.js'
import { MembershipSync } from './membership-sync.js'

export interface RedisImClusterOptions {
  /** redis://host:port/db, or a client to share (then close() leaves it open). */
  redis: string | Redis
  /** The emitter aedes routes with: mqemitter-redis, shared by every node. */
  emitter: ImEmitter
  logger?: Logger
  /** Default 'hail:im:'. */
  keyPrefix?: string
  /** A node silent this long is taken for dead; default 15 s. */
  livenessTtlMs?: number
  /** How often a node says it lives and looks for dead ones; default 5 s. */
  heartbeatMs?: number
  /** Default: host name, pid and random bytes (unique per process start). */
  nodeId?: string
}

/**
 * The IM engine's cluster part on Redis (im-cluster.ts): membership mirrors
 * synchronised over aedes' emitter (mqemitter-redis must be aedes' emitter,
 * so every node shares it), presence and node liveness in Redis, and leases
 * that let one node at a time run cluster-wide jobs.
 */
export class RedisImCluster implements ImCluster {
  readonly nodeId: string
  readonly #redis: Redis
  readonly #ownsRedis: boolean
  readonly #log: Logger
  readonly #prefix: string
  readonly #livenessTtlMs: number
  readonly #heartbeatMs: number
  readonly #emitter: ImEmitter
  #presence: ClusterPresence | undefined
  #sync: MembershipSync | undefined
  #closing: Promise<void> | undefined

  constructor (options: RedisImClusterOptions) {
    this.#ownsRedis = typeof options.redis === 'string'
    this.#redis = typeof options.redis === 'string' ? new Redis(options.redis, { maxRetriesPerRequest: 3 }) : options.redis
    this.#log = options.logger ?? pino({ level: 'silent' })
    this.#emitter = options.emitter
    this.#prefix = options.keyPrefix ?? 'hail:im:'
    this.#livenessTtlMs = options.livenessTtlMs ?? 15_000
    this.#heartbeatMs = options.heartbeatMs ?? 5_000
    this.nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
    if (this.nodeId.includes('\n')) throw new TypeError('a node id has no newline')
    // ioredis reconnects by itself; an unhandled 'error' would end the process. Commands fail
    // after a few retries while Redis is away: presence resyncs on reconnection.
    this.#redis.on('error', (err: Error) => this.#log.warn({ err }, 'im cluster: Redis connection error'))
  }

  /**
   * The expiring key that says this node lives (presence-scripts.ts, `node:{id}`):
   * refreshed every heartbeat, gone once the node is silent for the liveness
   * TTL or has closed. The publish journal's adoption watches it too.
   */
  get livenessKey (): string {
    return `${this.#prefix}node:${this.nodeId}`
  }

  presence (publisher: Publisher, logger: Logger, debounceMs: number): PresenceTracker {
    this.#presence = new ClusterPresence({
      redis: this.#redis,
      publisher,
      logger,
      debounceMs,
      nodeId: this.nodeId,
      prefix: this.#prefix,
      livenessTtlMs: this.#livenessTtlMs,
      heartbeatMs: this.#heartbeatMs
    })
    return this.#presence
  }

  async start (membership: Membership, load: MembershipSource): Promise<void> {
    const emitter = this.#emitter
    // Without a shared emitter (mqemitter-redis) membership changes never leave this node.
    if (emitter.state === undefined) this.#log.warn('aedes\' emitter is not mqemitter-redis: other nodes will not hear membership changes')
    this.#sync = new MembershipSync({ emitter, membership, load, nodeId: this.nodeId, logger: this.#log })
    await this.#sync.start()
    await this.#presence?.start(emitter)
    this.#log.info({ run: this.nodeId }, 'joined the IM cluster')
  }

  /**
   * The other runs of nodes alive now (a heartbeat within the liveness TTL), from the
   * presence heartbeats (presence-scripts.ts, `nodes`), each with its last heartbeat.
   */
  async peers (): Promise<Array<{ run: string, lastSeen: number }>> {
    const beats = await this.#redis.hgetall(`${this.#prefix}nodes`)
    const now = Date.now()
    return Object.entries(beats)
      .map(([run, at]) => ({ run, lastSeen: Number(at) }))
      .filter((p) => p.run !== this.nodeId && now - p.lastSeen < this.#livenessTtlMs)
      .sort((a, b) => a.run.localeCompare(b.run))
  }

  async lease (job: string, ms: number): Promise<boolean> {
    const won = await this.#redis.set(`${this.#prefix}lease:${job}`, this.nodeId, 'PX', ms, 'NX')
    return won === 'OK'
  }

  /** Presence is closed by the engine (it owns it); this ends the membership sync and the connection. */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      await this.#sync?.close()
      if (this.#ownsRedis) await this.#redis.quit().catch(() => this.#redis.disconnect())
    })()
    return this.#closing
  }
}
