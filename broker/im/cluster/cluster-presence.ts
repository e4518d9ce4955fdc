import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { topics } from '../../../protocol/index.js'
import type { ChosenStatus, PresenceTracker } from '../presence.js'
import type { PresenceStatus } from '../../../protocol/index.js'
import type { Publisher } from '../publisher.js'
import { stopListening, type EmitterListener, type ImEmitter } from './im-cluster.js'
import { CHOOSE, CONNECT, DISCONNECT, HEARTBEAT, OFFLINE, REAP } from './presence-scripts.js'

export interface ClusterPresenceOptions {
  redis: Redis
  publisher: Publisher
  logger: Logger
  debounceMs: number
  nodeId: string
  /** Key prefix, e.g. 'hail:im:'. */
  prefix: string
  /** A node silent this long is dead and its devices gone. */
  livenessTtlMs: number
  heartbeatMs: number
}

interface Conn { user: string, conn: string }

/**
 * Presence merged across every node sharing one Redis (DESIGN.md: online
 * once, offline only when the last device leaves, even when a node dies).
 * Each connection is registered in Redis under its user and its node; Lua
 * scripts (presence-scripts.ts) decide atomically which node announces a
 * change, so a user is announced online once and offline once. Each node
 * refreshes an expiring liveness key; a node whose key expired is reaped by
 * whichever live node notices first, which announces offline (with the dead
 * node's last heartbeat as last seen) for users left with no device.
 * Announcements stay what they were on one node: retained on
 * im/presence/{user}, through aedes.
 */
export class ClusterPresence implements PresenceTracker {
  readonly #redis: Redis
  readonly #publisher: Publisher
  readonly #log: Logger
  readonly #o: ClusterPresenceOptions
  readonly #conns = new Map<object, Conn>()
  readonly #local = new Map<string, number>()
  readonly #heard = new Map<string, PresenceStatus>()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  readonly #tasks = new Set<Promise<unknown>>()
  readonly #listener: EmitterListener
  readonly #onReady = (): void => { this.#track(this.#tick(true)) }
  #emitter: ImEmitter | undefined
  #beat: NodeJS.Timeout | undefined
  #seq = 0
  #closed = false

  constructor (options: ClusterPresenceOptions) {
    this.#o = options
    this.#redis = options.redis
    this.#publisher = options.publisher
    this.#log = options.logger
    this.#listener = (message, done) => {
      this.#hear(message.payload ?? '')
      done()
    }
  }

  /** Register this node, reap dead ones, and keep the heartbeat going; hear every announcement. */
  async start (emitter: ImEmitter): Promise<void> {
    this.#emitter = emitter
    await new Promise<void>((resolve) => emitter.on(topics.presence('+'), this.#listener, resolve))
    const announced = await this.#redis.hgetall(this.#key('announced'))
    for (const [user, status] of Object.entries(announced)) if (!this.#heard.has(user)) this.#heard.set(user, status as PresenceStatus)
    await this.#tick(false)
    this.#beat = setInterval(() => { this.#track(this.#tick(false)) }, this.#o.heartbeatMs)
    this.#beat.unref()
    // After an outage, operations may have failed: make Redis match this node's connections again.
    this.#redis.on('ready', this.#onReady)
  }

  connected (user: string, device: object): void {
    if (this.#closed) return
    const conn = { user, conn: String(++this.#seq) }
    this.#conns.set(device, conn)
    this.#local.set(user, (this.#local.get(user) ?? 0) + 1)
    this.#track(this.#join(conn))
  }

  disconnected (user: string, device: object): void {
    const conn = this.#conns.get(device)
    if (conn === undefined || this.#closed) return
    this.#conns.delete(device)
    const left = (this.#local.get(user) ?? 1) - 1
    if (left > 0) this.#local.set(user, left)
    else this.#local.delete(user)
    this.#track(this.#leave(conn))
  }

  choose (user: string, status: ChosenStatus): void {
    if (this.#closed) return
    this.#track(this.#run<string | null>(CHOOSE, [this.#devicesKey(user), this.#key('chosen'), this.#key('announced')], [user, status])
      .then((announce) => { if (announce !== null) this.#announce(user, announce as PresenceStatus, Date.now()) }))
  }

  /** A device here, or an announcement heard from any node saying the user is not offline. */
  isOnline (user: string): boolean {
    return (this.#local.get(user) ?? 0) > 0 || (this.#heard.get(user) ?? 'offline') !== 'offline'
  }

  /**
   * Leave the cluster: this node's connections are about to end, so it reaps
   * itself now (announcing offline for users left with no device elsewhere)
   * rather than leaving that to another node after the liveness TTL.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#beat)
    this.#redis.removeListener('ready', this.#onReady)
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    await Promise.allSettled([...this.#tasks])
    let timer: NodeJS.Timeout | undefined
    try {
      const leave = (async () => {
        await this.#redis.del(this.#nodeKey(this.#o.nodeId))
        await this.#reap(this.#o.nodeId)
      })()
      // With Redis away, do not hold the shutdown: the node's key expires and another node reaps it.
      await Promise.race([leave, new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error('Redis did not answer in 3 s')), 3000) })])
    } catch (err) {
      this.#log.warn({ err }, 'could not leave the presence cluster cleanly; another node reaps this one after the liveness TTL')
    }
    clearTimeout(timer)
    const emitter = this.#emitter
    if (emitter !== undefined) await stopListening(emitter, topics.presence('+'), this.#listener)
  }

  async #join ({ user, conn }: Conn): Promise<void> {
    this.#cancel(user)
    const id = this.#o.nodeId
    const announce = await this.#run<string | null>(CONNECT,
      [this.#devicesKey(user), this.#nodeKey(id, 'devices'), this.#key('chosen'), this.#key('announced'), this.#nodeKey(id, 'pending')],
      [user, `${id}\n${conn}`, `${user}\n${conn}`])
    if (announce !== null) this.#announce(user, announce as PresenceStatus, Date.now())
  }

  async #leave ({ user, conn }: Conn): Promise<void> {
    const id = this.#o.nodeId
    const lastSeen = Date.now()
    const left = await this.#run<number>(DISCONNECT, [this.#devicesKey(user), this.#nodeKey(id, 'devices'), this.#nodeKey(id, 'pending')],
      [user, `${id}\n${conn}`, `${user}\n${conn}`, String(lastSeen)])
    if (left > 0 || this.#closed) return
    // Debounced: a device that comes back (here or on another node) in time is never announced offline.
    this.#cancel(user)
    const timer = setTimeout(() => {
      this.#timers.delete(user)
      this.#track(this.#run<number>(OFFLINE, [this.#devicesKey(user), this.#key('announced'), this.#nodeKey(id, 'pending')], [user])
        .then((gone) => { if (gone === 1) this.#announce(user, 'offline', lastSeen) }))
    }, this.#o.debounceMs)
    timer.unref()
    this.#timers.set(user, timer)
  }

  /** Heartbeat, then reap every node whose liveness key expired. `resync`: Redis came back after an outage. */
  async #tick (resync: boolean): Promise<void> {
    if (this.#closed) return
    const id = this.#o.nodeId
    const known = await this.#run<number>(HEARTBEAT, [this.#key('nodes'), this.#nodeKey(id)], [id, String(Date.now()), String(this.#o.livenessTtlMs)])
    if (known === 0 && this.#conns.size > 0) {
      this.#log.warn({ run: id }, 'this node was taken for dead (silent longer than the liveness TTL); registering its connections again')
      resync = true
    }
    if (resync) await this.#resync()
    for (const node of await this.#redis.hkeys(this.#key('nodes'))) {
      if (node !== id) await this.#reap(node)
    }
  }

  async #reap (node: string): Promise<void> {
    const gone = await this.#run<string[]>(REAP,
      [this.#key('nodes'), this.#nodeKey(node), this.#nodeKey(node, 'devices'), this.#nodeKey(node, 'pending'), this.#key('announced')],
      [this.#o.prefix, node])
    if (gone.length > 0) this.#log.info({ deadRun: node, offline: gone.length / 2 }, 'reaped a node that stopped')
    for (let i = 0; i + 1 < gone.length; i += 2) this.#announce(gone[i]!, 'offline', Number(gone[i + 1]))
  }

  /** Make Redis hold exactly this node's connections. */
  async #resync (): Promise<void> {
    const inRedis = new Set(await this.#redis.smembers(this.#nodeKey(this.#o.nodeId, 'devices')))
    const here = new Map([...this.#conns.values()].map((c) => [`${c.user}\n${c.conn}`, c]))
    for (const entry of inRedis) {
      if (here.has(entry)) continue
      const at = entry.indexOf('\n')
      await this.#leave({ user: entry.slice(0, at), conn: entry.slice(at + 1) })
    }
    for (const [entry, conn] of here) if (!inRedis.has(entry)) await this.#join(conn)
  }

  #announce (user: string, status: PresenceStatus, lastSeen: number): void {
    this.#heard.set(user, status)
    this.#publisher.event(topics.presence(user), { type: 'presence', user, status, lastSeen }, 1, true)
      .catch((err: unknown) => this.#log.warn({ err, user }, 'presence announcement failed'))
  }

  #hear (payload: Buffer | string): void {
    try {
      const event = JSON.parse(String(payload)) as { user?: unknown, status?: unknown }
      if (typeof event.user === 'string' && typeof event.status === 'string') this.#heard.set(event.user, event.status as PresenceStatus)
    } catch {
      // Only the server publishes there; nothing to do with an unreadable one.
    }
  }

  #cancel (user: string): void {
    const timer = this.#timers.get(user)
    if (timer === undefined) return
    clearTimeout(timer)
    this.#timers.delete(user)
  }

  /** Redis failures are logged, never thrown at aedes' hooks; the next resync repairs them. */
  #track (work: Promise<unknown>): void {
    const task = work.catch((err: unknown) => this.#log.warn({ err }, 'cluster presence: a Redis operation failed'))
    this.#tasks.add(task)
    void task.finally(() => this.#tasks.delete(task))
  }

  async #run<T> (script: string, keys: string[], args: string[]): Promise<T> {
    return await this.#redis.eval(script, keys.length, ...keys, ...args) as T
  }

  #key (name: string): string {
    return this.#o.prefix + name
  }

  #devicesKey (user: string): string {
    return `${this.#o.prefix}devices:${user}`
  }

  #nodeKey (node: string, part?: string): string {
    return `${this.#o.prefix}node:${node}${part === undefined ? '' : `:${part}`}`
  }
}
