import { EventEmitter } from 'node:events'
import { mkdir, readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes'
import { Level } from 'level'
import pino, { type Logger } from 'pino'
import { Access, denyAll } from './access.js'
import { Acl } from './acl/acl.js'
import { parseAclFile } from './acl/acl-file.js'
import { builtinAuthenticate, type Authenticate } from './authenticate.js'
import { parseConfig, type HailConfig, type HailConfigInput } from './config.js'
import { ConfigError, HailError, ListenError, StoreError } from './errors.js'
import { HttpListener, type HttpRoute } from './listeners/http-listener.js'
import type { BoundAddress } from './listeners/listen-on.js'
import { MqttListener } from './listeners/mqtt-listener.js'
import { Metrics } from './metrics.js'
import { DurablePublish } from './durable-publish.js'
import { GroupCommit } from './persistence/group-commit.js'
import { Journal } from './persistence/journal.js'
import { LevelPersistence } from './persistence/level-persistence.js'
import { guardedHandle } from './wire/guarded-handle.js'
import { clientErrorLimit } from './client-error-limit.js'

/**
 * How long close() waits for publishes already journaled to finish routing.
 * They take milliseconds; one that never finishes stays in the journal and is
 * replayed at the next start, so waiting longer gains nothing.
 */
const SETTLE_TIMEOUT = 5000

export interface CreateServerOptions extends HailConfigInput {
  /** A pino logger; the library is silent without one. */
  logger?: Logger
  /** Who may connect; defaults to the built-in anonymous / nobody policy. */
  authenticate?: Authenticate
}

export interface ServerAddresses {
  mqtt?: BoundAddress
  http?: BoundAddress
  mqtts?: BoundAddress
  wss?: BoundAddress
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

  readonly #authenticate: Authenticate
  #aedes: Aedes | undefined
  #db: Level<string, Buffer> | undefined
  #groupCommit: GroupCommit | undefined
  #durable: DurablePublish | undefined
  #persistence: LevelPersistence | undefined
  #mqttListeners: MqttListener[] = []
  #httpListeners: HttpListener[] = []
  #state: 'new' | 'starting' | 'listening' | 'closing' | 'closed' = 'new'
  #closing: Promise<void> | undefined

  constructor (options: CreateServerOptions = {}) {
    super()
    const { logger, authenticate, ...config } = options
    this.config = parseConfig(config)
    this.logger = logger ?? pino({ level: 'silent' })
    this.#authenticate = authenticate ?? builtinAuthenticate(this.config.allowAnonymous)
    this.access = new Access(denyAll)
    this.routes.set('/healthz', (_req, res) => {
      const healthy = this.#state === 'listening'
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ status: healthy ? 'ok' : this.#state }) + '\n')
    })
    this.routes.set('/metrics', async (_req, res) => {
      this.metrics.connections.set(this.#aedes?.connectedClients ?? 0)
      const text = await this.metrics.text()
      res.writeHead(200, { 'content-type': this.metrics.contentType }).end(text)
    })
  }

  /** The aedes instance; exists once listen() has been called. */
  get aedes (): Aedes {
    if (this.#aedes === undefined) throw new HailError('HAIL_ERR_NOT_LISTENING', 'the server has not been started: call listen() first')
    return this.#aedes
  }

  get listening (): boolean {
    return this.#state === 'listening'
  }

  /** Open the stores, replay unfinished publishes, then accept clients. */
  async listen (): Promise<ServerAddresses> {
    if (this.#state !== 'new') throw new HailError('HAIL_ERR_STATE', `listen() called on a server that is ${this.#state}`)
    this.#state = 'starting'
    try {
      const tls = await this.#readTls()
      await this.#loadAcl()
      await this.#openStores()
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

  async #readTls (): Promise<{ cert: Buffer, key: Buffer } | undefined> {
    const tls = this.config.tls
    if (tls === null) return undefined
    const read = async (what: string, path: string): Promise<Buffer> => {
      try {
        return await readFile(path)
      } catch (err) {
        throw new ListenError(`cannot read TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
      }
    }
    return { cert: await read('certificate', tls.cert), key: await read('key', tls.key) }
  }

  async #loadAcl (): Promise<void> {
    const path = this.config.acl
    if (path === null) {
      // Without a file: anonymous mode is a plain open broker; otherwise deny by default.
      this.access.setPlainAuthority(this.config.allowAnonymous ? Acl.allowAll() : denyAll)
      return
    }
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      throw new ConfigError(`cannot read ACL file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
    }
    const acl = new Acl(parseAclFile(text, path))
    for (const warning of acl.warnings) this.logger.warn({ acl: path }, warning)
    this.access.setPlainAuthority(acl)
  }

  async #openStores (): Promise<void> {
    const dir = resolve(this.config.dataDir)
    try {
      await mkdir(dir, { recursive: true })
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
    this.#persistence = new LevelPersistence(db.sublevel<string, Buffer>('mqtt', { valueEncoding: 'buffer' }), {
      maxQueue: this.config.limits.maxQueue,
      groupCommit: this.#groupCommit,
      keepSubscription: (client, sub) => this.access.canSubscribe(client as Client, sub.topic),
      onQueueFull: (clientId) => {
        this.metrics.limitHits.inc({ limit: 'maxQueue' })
        this.logger.debug({ clientId }, 'offline queue full: message dropped')
      }
    })
    const journal = new Journal(db.sublevel<string, Buffer>('journal', { valueEncoding: 'buffer' }), this.#groupCommit)
    this.#durable = new DurablePublish(journal, this.logger.child({ part: 'journal' }))
  }

  async #startBroker (): Promise<void> {
    const limits = this.config.limits
    const access = this.access
    const metrics = this.metrics
    const durable = this.#durable!
    const persistence = this.#persistence!
    const log = this.logger.child({ part: 'broker' })
    const authenticate = this.#authenticate

    const aedes = new Aedes({
      persistence: this.#persistence,
      connectTimeout: limits.connectTimeout,
      drainTimeout: limits.drainTimeout,
      maxTopicLevels: limits.maxTopicLevels,
      maxClientsIdLength: limits.maxClientIdLength,
      maxInflightInbound: limits.maxInflight,
      authenticate (client, username, password, done) {
        const credentials = {
          clientId: client.id,
          username,
          password,
          remoteAddress: remoteAddressOf(client)
        }
        authenticate(credentials).then((result) => {
          if (result.ok) {
            access.bind(client, { user: result.user, clientId: client.id })
            return done(null, true)
          }
          metrics.authFailures.inc()
          log.info({ clientId: client.id, address: credentials.remoteAddress, reason: result.reason }, 'connection refused')
          const err = Object.assign(new Error(result.reason), { returnCode: result.returnCode }) as AuthenticateError
          done(err, false)
        }, (err: unknown) => {
          log.error({ err, clientId: client.id }, 'authentication failed')
          const refusal = Object.assign(new Error('server unavailable'), { returnCode: 3 }) as AuthenticateError
          done(refusal, false)
        })
      },
      authorizePublish (client, packet, done) {
        if (client === null) return durable.accept(packet, done) // a will of a client long gone: it was authorized when stored
        if (!access.canPublish(client, packet.topic)) {
          // MQTT 3.1.1 cannot refuse a PUBLISH [MQTT-3.3.5-2]: acknowledge it and drop it.
          metrics.aclDenied.inc({ action: 'publish' })
          log.debug({ clientId: client.id, topic: packet.topic }, 'publish refused by access control: dropped')
          discard(packet)
          return done(null)
        }
        metrics.messagesIn.inc({ qos: packet.qos })
        if (packet.qos === 2 && packet.dup) {
          // A QoS 2 resend that aedes already stored is answered with PUBREC and
          // not published again [MQTT-4.3.3-2], so it must not be journaled twice.
          return persistence.incomingGetPacket(client, packet)
            .then(() => done(null), () => durable.accept(packet, done))
        }
        durable.accept(packet, done)
      },
      authorizeSubscribe (client, subscription, done) {
        if (access.canSubscribe(client, subscription.topic)) return done(null, subscription)
        metrics.aclDenied.inc({ action: 'subscribe' })
        log.debug({ clientId: client.id, filter: subscription.topic }, 'subscribe refused by access control')
        done(null, null) // SUBACK 0x80 for this filter [MQTT-3.9.3-2]
      },
      authorizeForward (client, packet) {
        if (access.canReceive(client, packet.topic)) return packet
        metrics.aclDenied.inc({ action: 'receive' })
        return null
      },
      published (packet, _client, done) {
        durable.published(packet)
        done(null)
      }
    })
    // aedes emits 'error' when a store write of a publish fails; that publish
    // is never acknowledged as finished and its journal entry is replayed.
    ;(aedes as EventEmitter).on('error', (err: Error) => log.error({ err }, 'broker error'))
    aedes.on('clientError', (client: Client, err: Error) => {
      const limit = clientErrorLimit(err)
      if (limit !== undefined) metrics.limitHits.inc({ limit })
      log.debug({ clientId: client.id, err: err.message }, 'client error')
    })
    aedes.on('connectionError', (client: Client, err: Error) => {
      const limit = clientErrorLimit(err)
      if (limit !== undefined) metrics.limitHits.inc({ limit })
      log.debug({ address: remoteAddressOf(client), err: err.message }, 'connection error')
    })
    this.#aedes = aedes
    await aedes.listen()
    const replayed = await durable.replay(aedes)
    if (replayed > 0) log.info({ replayed }, 'replayed publishes acknowledged before the last stop')
  }

  async #startListeners (tls: { cert: Buffer, key: Buffer } | undefined): Promise<ServerAddresses> {
    const { host, mqttPort, httpPort, mqttsPort, wssPort, limits } = this.config
    const handle = guardedHandle(this.aedes, {
      maxPacketSize: limits.maxPacketSize,
      metrics: this.metrics,
      logger: this.logger.child({ part: 'wire' })
    })
    const onConnection = (transport: string): void => this.metrics.connectionsTotal.inc({ transport })
    const addresses: ServerAddresses = {}
    const startMqtt = async (name: 'mqtt' | 'mqtts', port: number, withTls?: { cert: Buffer, key: Buffer }): Promise<void> => {
      const listener = new MqttListener({ host, port, tls: withTls, handle: (conn: Duplex) => handle(conn), onConnection })
      this.#mqttListeners.push(listener)
      addresses[name] = await listener.listen()
    }
    const startHttp = async (name: 'http' | 'wss', port: number, withTls?: { cert: Buffer, key: Buffer }): Promise<void> => {
      const listener = new HttpListener({
        host,
        port,
        tls: withTls,
        routes: this.routes,
        // A WebSocket frame carries one MQTT packet at most a few header bytes bigger.
        maxPayload: limits.maxPacketSize + 5,
        handleMqtt: (stream: Duplex, req: IncomingMessage) => handle(stream, req),
        onConnection
      })
      this.#httpListeners.push(listener)
      addresses[name] = await listener.listen()
    }
    if (mqttPort !== null) await startMqtt('mqtt', mqttPort)
    if (httpPort !== null) await startHttp('http', httpPort)
    if (tls !== undefined) {
      if (mqttsPort !== null) await startMqtt('mqtts', mqttsPort, tls)
      if (wssPort !== null) await startHttp('wss', wssPort, tls)
    }
    return addresses
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
    const aedes = this.#aedes
    if (aedes !== undefined && !aedes.closed) {
      await step('broker', () => new Promise<void>((resolve) => aedes.close(() => resolve())))
    }
    await step('connections', () => {
      for (const l of [...this.#mqttListeners, ...this.#httpListeners]) l.connections.destroyAll()
    })
    await step('journal', async () => { await this.#durable?.settle(SETTLE_TIMEOUT) })
    // aedes.close() leaves its persistence open: destroy it, then flush what it and the journal wrote.
    await step('persistence', async () => { await this.#persistence?.destroy() })
    await step('journal flush', async () => { await this.#durable?.flush() })
    await step('group commit', async () => { await this.#groupCommit?.flush() })
    await step('database', async () => { await this.#db?.close() })
  }
}

/** Create a Hail server; call listen() to start it. Throws ConfigError on bad options. */
export function createServer (options: CreateServerOptions = {}): HailServer {
  return new HailServer(options)
}

function remoteAddressOf (client: Client): string | undefined {
  const conn = client.conn as Duplex & { remoteAddress?: string }
  return client.req?.socket?.remoteAddress ?? conn.remoteAddress
}

/**
 * Send a refused publish where nothing can see it: aedes still acknowledges
 * it per its QoS, but no filter a client may hold matches this topic
 * ([MQTT-4.7.2-1]: wildcards never match topics starting with '$').
 */
function discard (packet: PublishPacket): void {
  packet.topic = '$hail/discarded'
  packet.retain = false
}
