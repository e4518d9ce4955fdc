import type { Redis } from 'ioredis'
import { EventEmitter } from 'node:events'
import { join, resolve } from 'node:path'
import type { Aedes, Client } from 'aedes'
import type { MQEmitter } from 'mqemitter'
import pino, { type Logger } from 'pino'
import { Access, denyAll, type TopicAuthority } from './mqtt/access.js'
import { loadAcl } from './acl/load-acl.js'
import type { Authenticate } from './mqtt/authenticate.js'
import { hookAuthority, type Authorize } from './mqtt/authorize.js'
import { logConnections } from './mqtt/connection-log.js'
import { readTls, type TlsFiles } from './listeners/read-tls.js'
import { parseConfig, type HailConfig, type HailConfigInput } from './config.js'
import { BackupError, ConfigError, HailError } from './errors.js'
import type { HttpListener, HttpRoute } from './listeners/http-listener.js'
import type { MqttListener } from './listeners/mqtt-listener.js'
import { startListeners, type ServerAddresses } from './listeners/start-listeners.js'
import { Metrics } from './metrics.js'
import { DurablePublish } from './mqtt/durable-publish.js'
import { openBackend, RedisBackend } from './backend/index.js'
// The interface alone: its module's index also exports the Redis backend, whose
// types would pull untyped packages into every app's type check (test/package.test.ts).
import type { Backend } from './backend/backend.js'
import { EmbeddedBackend } from './backend/embedded-backend.js'
import { backupDataDir } from './integrity/index.js'
import { LoginGuard } from './users/login-guard.js'
import { guardedHandle } from './wire/guarded-handle.js'
import { createAedes } from './mqtt/create-aedes.js'
import { SharedSubscriptions } from './mqtt/shared-subscriptions.js'
import { SysTopics } from './mqtt/sys-topics.js'
import { serveStatus } from './server-status.js'
import { ImLayer } from './im/im-layer.js'
import type { ImExtensionFactory } from './im/im-extension.js'
import { countPush, PushHook } from './push/index.js'
import { FileStore, fileRoutes } from './files/index.js'
import { AdminServer, ADMIN_SOCKET } from './admin/index.js'
import { disconnectUser } from './users/disconnect-user.js'
import { imAuthenticate } from './users/im-authenticate.js'
import { TokenService } from './users/tokens.js'
import type { UserStore } from './users/user-store.js'

/**
 * How long close() waits for publishes already journaled to finish routing.
 * They take milliseconds; one that never finishes stays in the journal and is
 * replayed at the next start, so waiting longer gains nothing.
 */
const SETTLE_TIMEOUT = 5000

export interface CreateServerOptions extends HailConfigInput {
  /** A pino logger; the library is silent without one. */
  logger?: Logger
  /** Who may connect; defaults to the users in the data directory (and anonymous clients with allowAnonymous). */
  authenticate?: Authenticate
  /**
   * What clients may do on the topics outside Hail's own, in place of an ACL
   * file (`acl`); give one or the other. Without either, anonymous clients of
   * an allowAnonymous server may use every such topic and nobody else any.
   */
  authorize?: Authorize
  /** Parts plugged into the IM engine when it starts (bridge/: calls); closed first at shutdown. */
  imExtensions?: readonly ImExtensionFactory[]
}

/** What reload() reads again; a key left out keeps the file it named before. */
export interface ReloadOptions {
  /** Path of the ACL file, or null for none (the built-in rules). */
  acl?: string | null
  /** Certificate and key of the TLS listeners: new paths, or the same files renewed. */
  tls?: { cert: string, key: string } | null
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
  /** Backoff of failed logins, shared by MQTT CONNECT and the web app's sign-in; lifted by `hail user unlock`. */
  readonly loginGuard = new LoginGuard({ onLockout: (by) => this.metrics.loginLockouts.inc({ by }) })

  readonly #authenticate: Authenticate | undefined
  readonly #authorize: Authorize | undefined
  /** The ACL file and TLS files in use: the config's, then what reload() was given. */
  #aclPath: string | null
  #tlsPaths: { cert: string, key: string } | null
  readonly #imExtensions: readonly ImExtensionFactory[]
  #aedes: Aedes | undefined
  /** Where the node keeps its state: level in the data directory, or Redis (backend/). */
  #backend: Backend | undefined
  #durable: DurablePublish | undefined
  #mqttListeners: MqttListener[] = []
  #httpListeners: HttpListener[] = []
  #state: 'new' | 'starting' | 'listening' | 'closing' | 'closed' = 'new'
  #closing: Promise<void> | undefined
  #tokens: TokenService | undefined
  #admin: AdminServer | undefined
  #im: ImLayer | undefined
  #push: PushHook | undefined
  #files: FileStore | undefined
  #shared: SharedSubscriptions | undefined
  #sys: SysTopics | undefined

  constructor (options: CreateServerOptions = {}) {
    super()
    const { logger, authenticate, authorize, imExtensions, ...config } = options
    this.config = parseConfig(config)
    // A child of the app's logger: the Redis backend binds the node id to it.
    this.logger = (logger ?? pino({ level: 'silent' })).child({})
    this.#authenticate = authenticate
    if (authorize !== undefined && this.config.acl !== null) throw new ConfigError('options: give acl (a file) or authorize (a hook), not both')
    this.#authorize = authorize
    this.#aclPath = this.config.acl
    this.#tlsPaths = this.config.tls
    this.#imExtensions = imExtensions ?? []
    this.access = new Access(denyAll)
    serveStatus(this.routes, this.metrics, {
      state: () => this.#state,
      backend: () => this.#backend,
      aedes: () => this.#aedes,
      publishesInFlight: () => this.#durable?.pending ?? 0,
      mqttListeners: this.#mqttListeners,
      httpListeners: this.#httpListeners
    })
  }

  /** This node's lasting id (its data directory's `node-id`); once listen() has opened the stores. */
  get nodeId (): string | undefined {
    return this.#backend?.nodeId
  }

  /** This start of the node (`{nodeId}.{8 hex}`): what other nodes and aedes tell runs apart by. */
  get runId (): string | undefined {
    return this.#backend?.runId
  }

  /** The aedes instance; exists once listen() has been called. */
  get aedes (): Aedes {
    return started(this.#aedes)
  }

  /** Where the node keeps its state; exists once listen() has opened the stores. */
  get backend (): Backend {
    return started(this.#backend)
  }

  /** The Redis connection of this node's stores when nodes share one (once listen() opened them); alone, undefined. For limits that count across nodes (shared-limiter.ts). */
  get sharedRedis (): Redis | undefined {
    const backend = this.#backend
    return backend instanceof RedisBackend ? backend.redis : undefined
  }

  /** The emitter aedes routes publishes with (shared by every node in Redis mode); exists once listen() has opened the stores. */
  get emitter (): MQEmitter {
    return this.backend.emitter
  }

  /** The accounts that may log in; exists once listen() has opened the stores. */
  get users (): UserStore {
    return this.backend.users
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
      this.access.setPlainAuthority(await this.#plainAuthority(this.#aclPath))
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
   * Read the ACL file and the TLS certificate and key again (renewed in
   * place, or at the paths given) and use them from now on, without closing
   * any connection: new subscriptions and every delivery follow the new
   * rules, new TLS connections get the new certificate. Everything is read
   * and checked before anything changes, so a bad file rejects (AclError,
   * ConfigError, ListenError naming it) and leaves the server as it was.
   * TLS listeners open and close only at start: turning TLS on or off needs
   * a restart.
   */
  async reload (options: ReloadOptions = {}): Promise<void> {
    if (this.#state !== 'listening') throw new HailError('HAIL_ERR_STATE', `reload() called on a server that is ${this.#state}`)
    const aclPath = options.acl === undefined ? this.#aclPath : options.acl
    const tlsPaths = options.tls === undefined ? this.#tlsPaths : options.tls
    if ((tlsPaths === null) !== (this.#tlsPaths === null)) {
      throw new ConfigError(`TLS listeners open and close only at start: restart to turn TLS ${tlsPaths === null ? 'off' : 'on'}`)
    }
    if (aclPath !== null && this.#authorize !== undefined) throw new ConfigError('options: give acl (a file) or authorize (a hook), not both')
    const authority = await this.#plainAuthority(aclPath)
    const tls = await readTls(tlsPaths)
    this.access.setPlainAuthority(authority)
    if (tls !== undefined) for (const listener of [...this.#mqttListeners, ...this.#httpListeners]) listener.setTls(tls)
    this.#aclPath = aclPath
    this.#tlsPaths = tlsPaths
    this.logger.info({ acl: aclPath, tls: tlsPaths?.cert ?? null }, 'reloaded access rules and TLS certificate')
  }

  /** The hook, or the ACL file (or, without one, the open or closed default). */
  async #plainAuthority (aclPath: string | null): Promise<TopicAuthority> {
    if (this.#authorize !== undefined) return hookAuthority(this.#authorize)
    return await loadAcl(aclPath, this.config.allowAnonymous, this.logger)
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
    const backend = this.#backend = await openBackend({
      config: this.config,
      metrics: this.metrics,
      logger: this.logger,
      keepSubscription: (client, filter) => this.access.canSubscribe(client as Client, filter)
    })
    this.#tokens = new TokenService(backend.users)
    // Chunks travel in one PUBLISH each: keep 1 KiB for its topic and header.
    const chunkBytes = Math.min(this.config.files.chunkBytes, this.config.limits.maxPacketSize - 1024)
    const files = new FileStore(join(this.#dataDir(), 'files'), backend.fileIndex, {
      ...this.config.files,
      chunkBytes: Math.max(1, chunkBytes)
    })
    await files.open()
    this.#files = files
    this.#durable = new DurablePublish(backend.journal, this.logger.child({ part: 'journal' }))
  }

  #dataDir (): string {
    return resolve(this.config.dataDir)
  }

  /** `hail user ...` and `hail token` talk to a running server through this socket. */
  async #startAdmin (): Promise<void> {
    this.#admin = new AdminServer({
      path: join(this.#dataDir(), ADMIN_SOCKET),
      users: this.users,
      tokens: this.tokens,
      logger: this.logger.child({ part: 'admin' }),
      onUserDeleted: (name) => {
        disconnectUser(this.access, name)
        this.#backend?.userDeleted(name)
      },
      unlockUser: async (name) => {
        const { wasLocked, failures } = await this.loginGuard.unlock(name)
        this.logger.info({ user: name, wasLocked, failures }, 'login lockout lifted')
        this.#backend?.userUnlocked(name)
        return { name, nodes: 1, wasLocked, failures }
      },
      backup: async (dir) => {
        const backend = this.backend
        if (!(backend instanceof EmbeddedBackend)) throw new BackupError('this node keeps its stores in Redis: back up Redis with its own tools (BGSAVE, or its AOF); the data directory holds only stored files')
        return await backupDataDir(backend.database, this.#dataDir(), dir)
      }
    })
    await this.#admin.listen()
  }

  async #startBroker (): Promise<void> {
    const limits = this.config.limits
    const durable = started(this.#durable)
    const backend = this.backend
    const log = this.logger.child({ part: 'broker' })
    // Several nodes: an account's failed logins count on every node together.
    const redis = this.sharedRedis
    if (redis !== undefined) this.loginGuard.share(redis)
    const authenticate = this.#authenticate ??
      imAuthenticate({ users: this.users, tokens: this.tokens, guard: this.loginGuard, allowAnonymous: this.config.allowAnonymous })

    const push = this.config.push
    if (push.url !== null) {
      this.#push = new PushHook({
        ...push,
        url: push.url,
        isOnline: (user) => this.#im?.isOnline(user) ?? false,
        tokensOf: async (user) => await backend.imStores.pushTokens.list(user),
        logger: this.logger.child({ part: 'push' })
      })
      countPush(this.#push, this.metrics)
    }
    const pushHook = this.#push
    const im = new ImLayer({
      stores: { ...backend.imStores, users: { exists: async (name) => (await backend.users.get(name)) !== undefined } },
      logger: this.logger.child({ part: 'im' }),
      limits: this.config.im,
      onLimit: (limit) => this.metrics.limitHits.inc({ limit }),
      onRequest: (kind, method, outcome, seconds) => this.metrics.imRequestSeconds.observe({ kind, method, outcome }, seconds),
      onStored: pushHook === undefined ? undefined : (envelope, recipients) => pushHook.stored(envelope, recipients),
      files: this.#files,
      // Alone: membership loaded, presence in process; on Redis: mirrors in step, presence across nodes (im/cluster).
      cluster: backend.imCluster
    })
    this.#im = im
    // on a shared Redis, a drain first learns the recalls made on other nodes
    backend.persistence.beforeDrain?.(async () => await im.beforeDrain())
    for (const extension of this.#imExtensions) im.use(extension)
    for (const [path, route] of fileRoutes({ files: started(this.#files), tokens: this.tokens, membership: im.membership, logger: this.logger.child({ part: 'files' }) })) {
      this.routes.set(path, route)
    }
    this.access.setReservedAuthority(im.authority)
    const sys = this.#sys = new SysTopics({ intervalSeconds: this.config.sysInterval, metrics: this.metrics, backend, users: this.users, logger: this.logger.child({ part: 'sys' }) })
    this.access.setAdminCheck((user) => sys.admins.has(user))
    const aedes = createAedes({ id: backend.runId, limits, persistence: backend.persistence, mq: backend.emitter, authenticate: sys.admins.authenticate(authenticate), access: this.access, durable, metrics: this.metrics, log, im })
    im.attach(aedes)
    const shareLog = this.logger.child({ part: 'shared-subscriptions' })
    this.#shared = new SharedSubscriptions(aedes, { logger: shareLog, cluster: backend.shareCluster(shareLog) })
    logConnections(aedes, { access: this.access, log, closing: () => this.#state === 'closing' })
    this.#aedes = aedes
    await aedes.listen()
    await im.start()
    const replayed = await backend.start({
      aedes,
      durable,
      disconnectUser: (name) => disconnectUser(this.access, name),
      unlockUser: (name) => {
        this.loginGuard.unlock(name).catch((err: unknown) => log.warn({ err, user: name }, 'could not lift a login lockout told by another node'))
      }
    })
    if (replayed > 0) log.info({ replayed }, 'replayed publishes acknowledged before the last stop')
    await sys.start(aedes)
  }

  async #startListeners (tls: TlsFiles | undefined): Promise<ServerAddresses> {
    const handle = guardedHandle(this.aedes, {
      maxPacketSize: this.config.limits.maxPacketSize,
      sendBuffer: this.config.limits.sendBuffer,
      allowControlCharacters: this.config.limits.allowControlCharacters,
      metrics: this.metrics,
      logger: this.logger.child({ part: 'wire' })
    })
    return await startListeners({
      config: this.config,
      tls,
      handle,
      routes: this.routes,
      onConnection: (transport) => this.metrics.connectionsTotal.inc({ transport }),
      onRequest: (route, status) => this.metrics.httpRequests.inc({ route, status: `${Math.floor(status / 100)}xx` }),
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
    // Journal adoption, retries and account notices stop; the stores stay open.
    await step('backend', async () => { await this.#backend?.stop() })
    // Deliveries already started finish while the broker still runs.
    await step('im', async () => { await this.#im?.close() })
    await step('push', async () => { await this.#push?.close() })
    await step('shared subscriptions', async () => { await this.#shared?.close() })
    await step('$SYS topics', async () => { await this.#sys?.close() })
    const aedes = this.#aedes
    if (aedes !== undefined && !aedes.closed) {
      await step('broker', () => new Promise<void>((resolve) => aedes.close(() => resolve())))
    }
    await step('connections', () => {
      for (const l of [...this.#mqttListeners, ...this.#httpListeners]) l.connections.destroyAll()
    })
    await step('journal', async () => { await this.#durable?.settle(SETTLE_TIMEOUT) })
    // aedes.close() leaves its persistence open: destroy it, then flush what it and the journal wrote.
    await step('persistence', async () => { await this.#backend?.persistence.destroy() })
    await step('journal flush', async () => { await this.#durable?.flush() })
    await step('files', async () => { await this.#files?.close() })
    await step('stores', async () => { await this.#backend?.close() })
  }
}

/** A part that listen() creates, or a clear error for a caller who asked too early. */
function started<T> (part: T | undefined): T {
  if (part === undefined) throw new HailError('HAIL_ERR_NOT_LISTENING', 'the server has not been started: call listen() first')
  return part
}
