import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Aedes, Client } from 'aedes'
import { Level } from 'level'
import pino, { type Logger } from 'pino'
import { Access, denyAll } from './access.js'
import { loadAcl } from './acl/load-acl.js'
import type { Authenticate } from './authenticate.js'
import { readTls, type TlsFiles } from './read-tls.js'
import { parseConfig, type HailConfig, type HailConfigInput } from './config.js'
import { HailError, StoreError } from './errors.js'
import type { HttpListener, HttpRoute } from './listeners/http-listener.js'
import type { MqttListener } from './listeners/mqtt-listener.js'
import { startListeners, type ServerAddresses } from './listeners/start-listeners.js'
import { Metrics } from './metrics.js'
import { DurablePublish } from './durable-publish.js'
import { GroupCommit } from './persistence/group-commit.js'
import { Journal } from './persistence/journal.js'
import { LevelPersistence } from './persistence/level-persistence.js'
import { liveOutgoing } from './persistence/live-outgoing.js'
import type { PublishJournal } from './persistence/publish-journal.js'
import type { RedisPersistence } from './persistence/redis-persistence.js'
import { RedisNode } from './redis/redis-node.js'
import { JournalAdopter } from './redis/journal-adopter.js'
import { guardedHandle } from './wire/guarded-handle.js'
import { createAedes } from './create-aedes.js'
import { isLiveImDelivery } from './im/live-delivery.js'
import { ImLayer } from './im/im-layer.js'
import { RedisImCluster } from './im/cluster/redis-im-cluster.js'
import type { ImExtensionFactory } from './im/im-extension.js'
import { countPush, PushHook } from './push/index.js'
import { FileIndex, FileStore, fileRoutes } from './files/index.js'
import { createLevelImStores } from './im/store/level-im-stores.js'
import type { ImStores as LevelImStores } from './im/store/im-stores.js'
// Users, tokens and the admin socket (IM issue).
import { AdminServer, ADMIN_SOCKET } from './admin/index.js'
import { disconnectUser } from './users/disconnect-user.js'
import { RedisUserNotices } from './users/redis-user-notices.js'
import { imAuthenticate } from './users/im-authenticate.js'
import { LevelUserStore } from './users/level-user-store.js'
import { TokenService } from './users/tokens.js'
import type { UserStore } from './users/user-store.js'

/**
 * How long close() waits for publishes already journaled to finish routing.
 * They take milliseconds; one that never finishes stays in the journal and is
 * replayed at the next start, so waiting longer gains nothing.
 */
const SETTLE_TIMEOUT = 5000

/**
 * A journaled publish not finished after this many ms failed in aedes after
 * its PUBACK (a store write during a Redis outage) and is published again.
 */
const STUCK_RETRY_MS = 10_000

export interface CreateServerOptions extends HailConfigInput {
  /** A pino logger; the library is silent without one. */
  logger?: Logger
  /** Who may connect; defaults to the users in the data directory (and anonymous clients with allowAnonymous). */
  authenticate?: Authenticate
  /** Parts plugged into the IM engine when it starts (bridge/: calls); closed first at shutdown. */
  imExtensions?: readonly ImExtensionFactory[]
}

export interface ServerEvents {
  listening: [ServerAddresses]
  close: []
}

/** A Hail server: broker, stores and listeners, opened by listen() and closed in order by close(). */
export class HailServer extends EventEmitter<ServerEvents> {
  readonly config: Readonly<HailConfig>
  readonly metrics = new Metrics()
  readonly access: Access
  readonly logger: Logger
  /** Extra HTTP routes (exact paths) served on the HTTP port next to /healthz and /metrics. */
  readonly routes = new Map<string, HttpRoute>()

  readonly #authenticate: Authenticate | undefined
  readonly #imExtensions: readonly ImExtensionFactory[]
  #aedes: Aedes | undefined
  #db: Level<string, Buffer> | undefined
  #groupCommit: GroupCommit | undefined
  #durable: DurablePublish | undefined
  #persistence: LevelPersistence | RedisPersistence | undefined
  /** With config `redis`: the Redis connections and stores, used instead of the level ones. */
  #redisNode: RedisNode | undefined
  /** With config `redis`: takes over the publish journals of nodes that died. */
  #adopter: JournalAdopter | undefined
  #mqttListeners: MqttListener[] = []
  #httpListeners: HttpListener[] = []
  #state: 'new' | 'starting' | 'listening' | 'closing' | 'closed' = 'new'
  #closing: Promise<void> | undefined
  // Users, tokens and the admin socket: opened with the stores, closed with the listeners.
  #users: UserStore | undefined
  #tokens: TokenService | undefined
  #admin: AdminServer | undefined
  /** With config `redis`: a user deleted anywhere loses its connections on every node. */
  #userNotices: RedisUserNotices | undefined
  #imStores: LevelImStores | undefined
  #im: ImLayer | undefined
  #push: PushHook | undefined
  #files: FileStore | undefined

  constructor (options: CreateServerOptions = {}) {
    super()
    const { logger, authenticate, imExtensions, ...config } = options
    this.config = parseConfig(config)
    this.logger = logger ?? pino({ level: 'silent' })
    this.#authenticate = authenticate
    this.#imExtensions = imExtensions ?? []
    this.access = new Access(denyAll)
    this.routes.set('/healthz', (_req, res) => {
      const redisDown = this.#redisNode?.health.healthy === false
      const healthy = this.#state === 'listening' && !redisDown
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ status: healthy ? 'ok' : redisDown ? 'redis unreachable' : this.#state }) + '\n')
    })
    this.routes.set('/metrics', async (_req, res) => {
      this.metrics.connections.set(this.#aedes?.connectedClients ?? 0)
      const text = await this.metrics.text()
      res.writeHead(200, { 'content-type': this.metrics.contentType }).end(text)
    })
  }

  /** The aedes instance; exists once listen() has been called. */
  get aedes (): Aedes {
    return started(this.#aedes)
  }

  /** The accounts that may log in; exists once listen() has opened the stores. */
  get users (): UserStore {
    return started(this.#users)
  }

  /** The instant-messaging engine; exists once listen() has started the broker. */
  get im (): ImLayer {
    return started(this.#im)
  }

  /** Uploads and stored files; exists once listen() has opened the stores. */
  get files (): FileStore {
    return started(this.#files)
  }

  /** Issues and checks the tokens clients may use as their password; exists once listen() has opened the stores. */
  get tokens (): TokenService {
    return started(this.#tokens)
  }

  get listening (): boolean {
    return this.#state === 'listening'
  }

  /** Open the stores, replay unfinished publishes, then accept clients. */
  async listen (): Promise<ServerAddresses> {
    if (this.#state !== 'new') throw new HailError('HAIL_ERR_STATE', `listen() called on a server that is ${this.#state}`)
    this.#state = 'starting'
    try {
      const tls = await readTls(this.config.tls)
      this.access.setPlainAuthority(await loadAcl(this.config.acl, this.config.allowAnonymous, this.logger))
      await this.#openStores()
      await this.#startAdmin()
      await this.#startBroker()
      const addresses = await this.#startListeners(tls)
      this.#state = 'listening'
      this.logger.info({ addresses }, 'listening')
      this.emit('listening', addresses)
      return addresses
    } catch (err) {
      await this.#shutdown()
      this.#state = 'closed'
      throw err
    }
  }

  /**
   * Stop accepting, disconnect clients, let in-flight publishes reach the
   * stores, then close them. Safe to call more than once.
   */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closing'
      await this.#shutdown()
      this.#state = 'closed'
      this.logger.info('closed')
      this.emit('close')
    })()
    return this.#closing
  }

  async #openStores (): Promise<void> {
    const dir = resolve(this.config.dataDir)
    try {
      // 0700: the store holds password hashes and the token secret.
      await mkdir(dir, { recursive: true, mode: 0o700 })
      const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
      this.#db = db
      await db.open()
    } catch (err) {
      const busy = /lock/i.test(String((err as Error).cause ?? err))
      throw new StoreError(busy
        ? `data directory ${dir} is in use by another process`
        : `cannot open data directory ${dir}: ${(err as Error).message}`, { cause: err })
    }
    const db = this.#db
    this.#groupCommit = new GroupCommit(db, {
      onBatch: (count, seconds) => {
        this.metrics.journalBatchSize.observe(count)
        this.metrics.journalSyncSeconds.observe(seconds)
      }
    })
    const onQueueFull = (clientId: string): void => {
      this.metrics.limitHits.inc({ limit: 'maxQueue' })
      this.logger.debug({ clientId }, 'offline queue full: message dropped')
    }
    // With `redis`, every store but files moves to Redis (README, "Scale out").
    const redis = this.config.redis === null
      ? undefined
      : this.#redisNode = await RedisNode.open({
        url: this.config.redis,
        requireFsync: this.config.redisRequireFsync,
        dataDir: dir,
        persistence: { maxQueue: this.config.limits.maxQueue, onQueueFull },
        logger: this.logger.child({ part: 'redis' })
      })
    // IM messages (and own-user receipts) to connected devices skip the durable queue: sync recovers them (broker/im/live-delivery.ts).
    this.#persistence = redis?.persistence ?? liveOutgoing(new LevelPersistence(db.sublevel<string, Buffer>('mqtt', { valueEncoding: 'buffer' }), {
      maxQueue: this.config.limits.maxQueue,
      groupCommit: this.#groupCommit,
      keepSubscription: (client, sub) => this.access.canSubscribe(client as Client, sub.topic),
      onQueueFull
    }), { live: isLiveImDelivery, maxPerClient: this.config.limits.maxQueue })
    this.#users = redis?.users ?? LevelUserStore.inDatabase(db, { groupCommit: this.#groupCommit })
    this.#imStores = redis?.imStores ?? createLevelImStores(db, this.#groupCommit)
    this.#tokens = new TokenService(this.#users)
    // Chunks travel in one PUBLISH each: keep 1 KiB for its topic and header.
    const chunkBytes = Math.min(this.config.files.chunkBytes, this.config.limits.maxPacketSize - 1024)
    const files = new FileStore(join(dir, 'files'), new FileIndex(db.sublevel<string, string>('files', { keyEncoding: 'utf8', valueEncoding: 'utf8' }), this.#groupCommit), {
      ...this.config.files,
      chunkBytes: Math.max(1, chunkBytes)
    })
    await files.open()
    this.#files = files
    const journal: PublishJournal = redis?.journal ?? new Journal(db.sublevel<string, Buffer>('journal', { valueEncoding: 'buffer' }), this.#groupCommit)
    this.#durable = new DurablePublish(journal, this.logger.child({ part: 'journal' }))
  }

  /** `hail user ...` and `hail token` talk to a running server through this socket. */
  async #startAdmin (): Promise<void> {
    this.#admin = new AdminServer({
      path: join(resolve(this.config.dataDir), ADMIN_SOCKET),
      users: this.users,
      tokens: this.tokens,
      logger: this.logger.child({ part: 'admin' }),
      onUserDeleted: (name) => { if (this.#aedes !== undefined) disconnectUser(this.#aedes, this.access, name); this.#userNotices?.userDeleted(name) }
    })
    await this.#admin.listen()
  }

  async #startBroker (): Promise<void> {
    const limits = this.config.limits
    const durable = this.#durable!
    const persistence = this.#persistence!
    const log = this.logger.child({ part: 'broker' })
    const authenticate = this.#authenticate ??
      imAuthenticate({ users: this.users, tokens: this.tokens, allowAnonymous: this.config.allowAnonymous })

    const push = this.config.push
    if (push.url !== null) {
      this.#push = new PushHook({
        ...push,
        url: push.url,
        isOnline: (user) => this.#im?.isOnline(user) ?? false,
        tokensOf: async (user) => await this.#imStores!.pushTokens.list(user),
        logger: this.logger.child({ part: 'push' })
      })
      countPush(this.#push, this.metrics)
    }
    const pushHook = this.#push
    // Several nodes on one Redis: membership mirrors in step, presence across nodes (broker/im/cluster).
    const cluster = this.config.redis === null ? undefined : new RedisImCluster({ redis: this.config.redis, logger: this.logger.child({ part: 'im-cluster' }) })
    const im = new ImLayer({
      stores: { ...this.#imStores!, users: { exists: async (name) => (await this.users.get(name)) !== undefined } },
      logger: this.logger.child({ part: 'im' }),
      limits: this.config.im,
      onLimit: (limit) => this.metrics.limitHits.inc({ limit }),
      onStored: pushHook === undefined ? undefined : (envelope, recipients) => pushHook.stored(envelope, recipients),
      files: this.#files,
      cluster
    })
    this.#im = im
    for (const extension of this.#imExtensions) im.use(extension)
    for (const [path, route] of fileRoutes({ files: this.#files!, tokens: this.tokens, membership: im.membership, logger: this.logger.child({ part: 'files' }) })) {
      this.routes.set(path, route)
    }
    this.access.setReservedAuthority(im.authority)
    const aedes = createAedes({ limits, persistence, mq: this.#redisNode?.emitter, authenticate, access: this.access, durable, metrics: this.metrics, log, im })
    im.attach(aedes)
    this.#aedes = aedes
    if (this.#redisNode !== undefined) this.#userNotices = await RedisUserNotices.listen({ redis: this.#redisNode.redis, logger: this.logger.child({ part: 'users' }), onUserDeleted: (name) => disconnectUser(aedes, this.access, name) })
    await aedes.listen()
    await im.start(aedes)
    // The journal is adoptable by the other nodes once the IM cluster's liveness key of this node lapses.
    const adopter = this.#redisNode === undefined || cluster === undefined
      ? undefined
      : this.#adopter = new JournalAdopter({ journal: this.#redisNode.journal, durable, aedes, liveness: cluster.livenessKey, logger: this.logger.child({ part: 'journal' }) })
    await adopter?.register()
    const replayed = await durable.replay(aedes)
    // Only a Redis write can fail after aedes' PUBACK; on level a slow publish is not a stuck one.
    if (this.#redisNode !== undefined) durable.startRetrying(aedes, STUCK_RETRY_MS)
    if (replayed > 0) log.info({ replayed }, 'replayed publishes acknowledged before the last stop')
    await adopter?.start()
  }

  async #startListeners (tls: TlsFiles | undefined): Promise<ServerAddresses> {
    const handle = guardedHandle(this.aedes, {
      maxPacketSize: this.config.limits.maxPacketSize,
      metrics: this.metrics,
      logger: this.logger.child({ part: 'wire' })
    })
    return await startListeners({
      config: this.config,
      tls,
      handle,
      routes: this.routes,
      onConnection: (transport) => this.metrics.connectionsTotal.inc({ transport }),
      mqttListeners: this.#mqttListeners,
      httpListeners: this.#httpListeners
    })
  }

  /** Each step runs even when an earlier one failed, so nothing is left open. */
  async #shutdown (): Promise<void> {
    const log = this.logger
    const step = async (name: string, fn: () => Promise<void> | void): Promise<void> => {
      try {
        await fn()
      } catch (err) {
        log.error({ err }, `close: ${name} failed`)
      }
    }
    await step('listeners', async () => {
      await Promise.all([...this.#mqttListeners, ...this.#httpListeners].map(async (l) => await l.stop()))
    })
    await step('admin socket', async () => { await this.#admin?.close() })
    await step('user notices', async () => { await this.#userNotices?.close() })
    await step('journal adoption', async () => { await this.#adopter?.close() })
    // Deliveries already started finish while the broker still runs.
    await step('im', async () => { await this.#im?.close() })
    await step('push', async () => { await this.#push?.close() })
    const aedes = this.#aedes
    if (aedes !== undefined && !aedes.closed) {
      await step('broker', () => new Promise<void>((resolve) => aedes.close(() => resolve())))
    }
    await step('connections', () => {
      for (const l of [...this.#mqttListeners, ...this.#httpListeners]) l.connections.destroyAll()
    })
    await step('journal', async () => {
      this.#durable?.stopRetrying()
      await this.#durable?.settle(SETTLE_TIMEOUT)
    })
    // aedes.close() leaves its persistence open: destroy it, then flush what it and the journal wrote.
    await step('persistence', async () => { await this.#persistence?.destroy() })
    await step('journal flush', async () => { await this.#durable?.flush() })
    await step('im stores', async () => { await this.#imStores?.close() })
    await step('redis', async () => { await this.#redisNode?.close() })
    await step('files', async () => { await this.#files?.close() })
    await step('group commit', async () => { await this.#groupCommit?.flush() })
    await step('database', async () => { await this.#db?.close() })
  }
}

/** A part that listen() creates, or a clear error for a caller who asked too early. */
function started<T> (part: T | undefined): T {
  if (part === undefined) throw new HailError('HAIL_ERR_NOT_LISTENING', 'the server has not been started: call listen() first')
  return part
}

/** Create a Hail server; call listen() to start it. Throws ConfigError on bad options. */
export function createServer (options: CreateServerOptions = {}): HailServer {
  return new HailServer(options)
}
