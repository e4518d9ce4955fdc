import type { Aedes, Client, PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import { isMethod } from '../../protocol/schemas.js'
import { parseClientId, parseImTopic, PROTOCOL_VERSION, topics, type ImTopic } from '../../protocol/index.js'
import type { FileStore } from '../files/index.js'
import type { Identity } from '../mqtt/access.js'
import type { ImCluster } from './cluster/index.js'
import { ensureDirect } from './direct.js'
import { Fanout, type OnStored } from './fanout.js'
import { handleCommand } from './handlers/command.js'
import { handleFileChunk } from './handlers/file-chunk.js'
import { handleSend } from './handlers/send.js'
import { handleTyping } from './handlers/typing.js'
import { ImAuthority } from './im-authority.js'
import type { ImExtension, ImExtensionFactory, ImHost } from './im-extension.js'
import type { Caller, ImContext, ImLimits } from './im-context.js'
import { ImError } from './im-error.js'
import { StoreError } from '../errors.js'
import { StoreInputError } from './store/errors.js'
import type { ImStores } from './im-stores.js'
import { Membership } from './membership.js'
import { messageOf, type MessagePayload } from './message-payloads.js'
import { Publisher } from './publisher.js'
import { RateLimiter } from './rate-limiter.js'
import { Receipts } from './receipts.js'
import { RecalledMessages, type ForwardedPacket } from './recalled-messages.js'
import { errorBody, refOf, reply } from './reply.js'
import { Retention } from './retention.js'

export const defaultImLimits: ImLimits = {
  maxMessageBytes: 64 * 1024,
  receiptFanoutLimit: 256,
  presenceDebounceMs: 3000,
  retentionMaxCount: null,
  retentionMaxAgeMs: null,
  retentionIntervalMs: 60 * 60 * 1000,
  rateLimitPerSecond: 500,
  rateLimitBurst: 2000,
  maxFanoutBacklog: 10_000
}

/** Messages of one conversation not yet fanned out past which its senders wait (fanout.ts). */
const FANOUT_PER_CONVERSATION = 100

/** The engine's own subtrees of im/, which no extension may take. */
const BUILT_IN_SUBTREES = new Set(['send', 'cmd', 'typing', 'inbox', 'reply', 'presence', 'conv', 'file'])

export interface ImLayerOptions {
  stores: ImStores
  logger: Logger
  limits?: Partial<ImLimits>
  /** Told each time a limit refuses a request (for metrics). */
  onLimit?: (limit: 'imRate') => void
  /** Each request handled: its topic kind, the method of an im/cmd (or ''), whether it threw, and how long it took. */
  onRequest?: (kind: string, method: string, outcome: 'answered' | 'failed', seconds: number) => void
  /** Told of each message stored in a direct or group conversation, with its recipients (the push hook). */
  onStored?: OnStored
  /** Uploads and file metadata (broker/files); without it the file methods are refused. */
  files?: FileStore
  /** Whether the node's memory for deliveries is past its bound (live-outgoing.ts LiveBudget): senders then wait. */
  memoryPressed?: () => boolean
  /** The other nodes (cluster/): LocalImCluster alone, RedisImCluster on a shared Redis. Closed with the engine. */
  cluster: ImCluster
}

/**
 * The instant-messaging engine on top of the broker (docs/protocol.md): it
 * owns the `im/` topics — their authority, the handlers of what clients
 * publish there, fan-out, receipts and presence. The server calls it from
 * aedes' hooks; it publishes only through aedes.
 */
export class ImLayer {
  readonly authority: ImAuthority
  readonly membership = new Membership()
  readonly retention: Retention
  readonly #ctx: ImContext
  readonly #log: Logger
  readonly #rate: RateLimiter
  readonly #onLimit: (limit: 'imRate') => void
  readonly #onRequest: ImLayerOptions['onRequest']
  /** Extensions (bridge/: calls) by the subtree they own; the authority reads the same map. */
  readonly #extensions = new Map<string, ImExtension>()
  readonly #cluster: ImCluster

  constructor (options: ImLayerOptions) {
    const limits = { ...defaultImLimits, ...options.limits }
    const log = options.logger
    const publisher = new Publisher()
    const membership = this.membership
    this.#log = log
    this.#rate = new RateLimiter(limits.rateLimitPerSecond, limits.rateLimitBurst)
    this.#onLimit = options.onLimit ?? (() => {})
    this.#onRequest = options.onRequest
    this.authority = new ImAuthority(membership, this.#extensions)
    const cluster = this.#cluster = options.cluster
    this.#ctx = {
      stores: options.stores,
      membership,
      publisher,
      fanout: new Fanout(publisher, membership, log, options.onStored, limits.maxFanoutBacklog, FANOUT_PER_CONVERSATION, options.memoryPressed),
      presence: cluster.presence(publisher, log, limits.presenceDebounceMs),
      receipts: new Receipts(options.stores.receipts, membership, publisher, log, limits.receiptFanoutLimit),
      recalled: new RecalledMessages(options.stores.recalls),
      limits,
      log,
      files: options.files
    }
    this.retention = new Retention(options.stores.log, membership, {
      maxCount: limits.retentionMaxCount,
      maxAgeMs: limits.retentionMaxAgeMs,
      intervalMs: limits.retentionIntervalMs
    }, log, async () => await cluster.lease('retention', Math.max(1, limits.retentionIntervalMs - 1000)))
  }

  /** The broker the engine publishes through; aedes is built after the engine, whose hooks it calls. */
  attach (aedes: Aedes): void {
    this.#ctx.publisher.attach(aedes)
  }

  /**
   * Plug in an extension (im-extension.ts): its im/cmd methods and its
   * im/{subtree}/ topics. Call before clients connect (the server does it in listen()).
   */
  use (factory: ImExtensionFactory): ImExtension {
    const ext = factory(this.#host())
    if (BUILT_IN_SUBTREES.has(ext.subtree) || this.#extensions.has(ext.subtree) || !/^[a-z][a-z0-9-]{0,31}$/.test(ext.subtree)) {
      throw new Error(`an IM extension cannot own im/${ext.subtree}/`)
    }
    for (const method of Object.keys(ext.commands)) {
      if (isMethod(method) || this.#extensionFor(method) !== undefined) throw new Error(`im/cmd/${method} is answered already`)
    }
    this.#extensions.set(ext.subtree, ext)
    return ext
  }

  /** Load who is in which conversation and make presence true (cluster/), then start retention. */
  async start (): Promise<void> {
    await this.#ctx.recalled.load()
    await this.#cluster.start(this.membership, () => this.#ctx.stores.conversations.allMemberships())
    this.retention.start()
  }

  /**
   * A delivery is going out (aedes' authorizeForward, also for what a drain
   * reads from an offline queue): a recalled message's goes as its tombstone.
   */
  forwarding (packet: ForwardedPacket): void {
    this.#ctx.recalled.rewrite(packet)
  }

  /** Before a drain of an offline queue on a store other nodes share: learn their recalls first. */
  beforeDrain (): Promise<void> {
    return this.#ctx.recalled.refresh()
  }

  /** The fan-out's bounds as they stand (metrics, tests): sends in flight and waiting, messages not fanned out. */
  get fanout (): Pick<Fanout, 'backlog' | 'inFlight' | 'waiting' | 'peak' | 'forced'> {
    return this.#ctx.fanout
  }

  /** Whether a client's publish on `topic` is the engine's to handle. */
  handles (topic: string): boolean {
    if (topic.startsWith('im/send/') || topic.startsWith('im/cmd/') || topic.startsWith('im/typing/') || topic.startsWith('im/file/')) return true
    if (topic === 'im/send' || topic === 'im/cmd' || topic === 'im/file') return true // malformed: answered, not routed
    const levels = topic.split('/')
    return levels[0] === 'im' && levels.length > 2 && this.#extensions.has(levels[1]!)
  }

  /**
   * Handle a client's publish on an IM topic. Resolves once it is done and,
   * for a message, durably stored, so the PUBACK that follows is true. It
   * rejects only when a store failed: then no PUBACK goes out, the client
   * sends again, and idempotency keeps it to one copy.
   */
  async publish (identity: Identity, packet: PublishPacket): Promise<void> {
    const caller = callerOf(identity)
    const topic = parseImTopic(packet.topic)
    const ext = topic === null ? this.#extensions.get(packet.topic.split('/')[1] ?? '') : undefined
    if (caller === null) return
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload)
    if (topic === null && ext === undefined) {
      // im/send, im/send/{conv}/extra, im/file/{id}/-1 ...: told, not dropped without a word.
      this.#refuseMalformed(caller, packet.topic, payload)
      return
    }
    if (!this.#rate.take(identity.clientId)) {
      this.#onLimit('imRate')
      if (topic !== null) this.#refuse(caller, topic, payload, new ImError('HAIL_ERR_RATE_LIMITED', 'too many requests from this device; slow down and retry'))
      return
    }
    if (topic === null) {
      await ext!.publish(caller, packet.topic, payload)
      return
    }
    // a send is admitted before anything of it is parsed: past the fan-out's bound it waits
    // here, and aedes reads no more of its sender meanwhile (fanout.ts enter())
    const admission = topic.kind === 'send' ? this.#ctx.fanout.enter() : undefined
    if (admission?.admitted !== undefined) await admission.admitted
    const started = this.#onRequest === undefined ? 0 : performance.now()
    let outcome: 'answered' | 'failed' = 'failed'
    try {
      await this.#handle(caller, topic, payload, admission?.done)
      outcome = 'answered'
    } catch (err) {
      // A store that cannot write now: no PUBACK, the device sends again (nothing was stored).
      if (err instanceof StoreError) throw err
      // Anything else is a refusal the handlers did not foresee (a bug, or input that slipped
      // past validation): answered and acknowledged, so no payload can close its sender's
      // connection on every resend.
      const refusal = err instanceof ImError
        ? err
        : err instanceof StoreInputError
          ? new ImError('HAIL_ERR_BAD_REQUEST', err.message)
          : new ImError('HAIL_ERR_INTERNAL', 'the server could not handle this request; it was not stored')
      if (!(err instanceof ImError) && !(err instanceof StoreInputError)) this.#log.error({ err, topic: packet.topic, clientId: identity.clientId }, 'IM request failed unexpectedly: refused')
      this.#refuse(caller, topic, payload, refusal)
    } finally {
      admission?.done()
      if (this.#onRequest !== undefined) {
        // A method label only for methods that exist: a client cannot mint label values.
        const method = topic.kind !== 'cmd' ? '' : isMethod(topic.method) || this.#extensionFor(topic.method) !== undefined ? topic.method : 'unknown'
        this.#onRequest(topic.kind, method, outcome, (performance.now() - started) / 1000)
      }
    }
  }

  /** One request, by its topic's kind; refusals the handlers foresee are answered inside them. */
  async #handle (caller: Caller, topic: ImTopic, payload: Buffer, stored?: (handing?: boolean) => void): Promise<void> {
    switch (topic.kind) {
      case 'send':
        return await handleSend(this.#ctx, caller, topic.conv, payload, stored)
      case 'cmd':
        return await handleCommand(this.#ctx, caller, topic.method, payload, (method) => this.#extensionFor(method))
      case 'typing':
        return handleTyping(this.#ctx, caller, topic.conv, payload)
      case 'file':
        return await handleFileChunk(this.#ctx, caller, topic.uploadId, topic.index, payload)
    }
  }

  /** A publish under im/{send,cmd,typing,file}/ whose topic has the wrong shape. */
  #refuseMalformed (caller: Caller, topic: string, payload: Buffer): void {
    const kind = topic.split('/')[1]
    const err = new ImError('HAIL_ERR_BAD_REQUEST', `${topic.slice(0, 200)} is not an IM topic (im/send/{conv}, im/cmd/{method}, im/typing/{conv}, im/file/{uploadId}/{index})`)
    if (kind === 'cmd') reply(this.#ctx, caller, { type: 'result', req: refOf(payload, 'req'), ok: false, error: errorBody(err) })
    else if (kind === 'send' || kind === 'file') reply(this.#ctx, caller, { type: 'error', ref: kind === 'send' ? refOf(payload, 'cid') : topic.split('/')[2]?.slice(0, 64) ?? '', error: errorBody(err) })
    // typing is fire and forget: nothing to answer
  }

  /** Whether any device of `user` is connected now (undebounced, unlike presence announcements). */
  isOnline (user: string): boolean {
    return this.#ctx.presence.isOnline(user)
  }

  /** A client finished CONNECT. */
  connected (identity: Identity, client: Client): void {
    const caller = callerOf(identity)
    if (caller === null) return
    this.#ctx.presence.connected(caller.user, client)
    for (const ext of this.#extensions.values()) this.#tell(ext, () => ext.connected?.(caller))
  }

  disconnected (identity: Identity, client: Client): void {
    this.#rate.forget(identity.clientId)
    const caller = callerOf(identity)
    if (caller === null) return
    this.#ctx.presence.disconnected(caller.user, client)
    for (const ext of this.#extensions.values()) this.#tell(ext, () => ext.disconnected?.(caller))
  }

  /** A device acknowledged a QoS 1 delivery: a message in its inbox means *delivered*. */
  acknowledged (identity: Identity, packet: { topic?: string, payload?: Buffer | string } | undefined): void {
    if (identity.user === null || packet?.topic === undefined || !packet.topic.startsWith('im/inbox/')) return
    // the payload Fanout encoded carries its record; only one read back from the durable queue is parsed
    const message = messageOf(packet.payload) ?? this.#parseMessage(packet)
    // The author's own devices getting the echo of a message is no news to anyone.
    if (message === undefined || message.from === identity.user) return
    // the inbox topic must be the acknowledging user's, of the message's conversation
    if (packet.topic !== topics.inbox(identity.user, message.conv)) return
    this.#ctx.receipts.delivered(message.conv, identity.user, message.seq)
  }

  /** A message delivery read back from the durable queue (not the Buffer Fanout encoded). */
  #parseMessage (packet: { topic?: string, payload?: Buffer | string }): MessagePayload | undefined {
    const t = parseImTopic(packet.topic ?? '')
    if (t?.kind !== 'inbox' || t.conv === undefined) return undefined
    try {
      const event = JSON.parse(String(packet.payload)) as { type?: string, msg?: { seq?: unknown, from?: unknown } }
      const { seq, from } = event.msg ?? {}
      if (event.type !== 'message' || typeof seq !== 'number' || typeof from !== 'string') return undefined
      return { conv: t.conv, seq, from }
    } catch {
      return undefined
    }
  }

  async close (): Promise<void> {
    // Extensions first (calls hang up and write their records) while the fan-out still runs.
    for (const ext of this.#extensions.values()) {
      try {
        await ext.close?.()
      } catch (err) {
        this.#log.error({ err, subtree: ext.subtree }, 'IM extension failed to close')
      }
    }
    await this.retention.stop()
    await this.#ctx.fanout.settle()
    await this.#ctx.receipts.settle()
    await this.#ctx.presence.close()
    await this.#cluster.close()
  }

  /** Answer a refused request the way its kind is answered (typing is dropped). */
  #refuse (caller: Caller, topic: ImTopic, payload: Buffer, err: ImError): void {
    if (topic.kind === 'file') reply(this.#ctx, caller, { type: 'error', ref: topic.uploadId.slice(0, 64), error: errorBody(err) })
    if (topic.kind === 'send') reply(this.#ctx, caller, { type: 'error', ref: refOf(payload, 'cid'), conv: topic.conv, error: errorBody(err) })
    if (topic.kind === 'cmd') reply(this.#ctx, caller, { type: 'result', req: refOf(payload, 'req'), ok: false, error: errorBody(err) })
  }

  #extensionFor (method: string): ImExtension['commands'][string] | undefined {
    for (const ext of this.#extensions.values()) {
      if (Object.hasOwn(ext.commands, method)) return ext.commands[method]
    }
    return undefined
  }

  /** An extension's hook must not break the engine's own bookkeeping. */
  #tell (ext: ImExtension, hook: () => void): void {
    try {
      hook()
    } catch (err) {
      this.#log.error({ err, subtree: ext.subtree }, 'IM extension hook failed')
    }
  }

  #host (): ImHost {
    const ctx = this.#ctx
    return {
      publish: async (topic, event, qos = 1) => await ctx.publisher.send(topic, Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, ...event })), qos),
      inboxTopic: (user) => topics.inbox(user),
      replyTopic: (user, device) => topics.reply(user, device),
      members: (conv) => ctx.membership.members(conv),
      userExists: async (user) => await ctx.stores.users.exists(user),
      isOnline: (user) => ctx.presence.isOnline(user),
      ensureDirect: async (user, conv) => await ensureDirect(ctx, user, conv),
      append: async (conv, draft) => {
        const { envelope, duplicate } = await ctx.stores.log.append(conv, draft)
        if (!duplicate) ctx.fanout.message(envelope)
        return envelope
      }
    }
  }
}

function callerOf (identity: Identity): Caller | null {
  if (identity.user === null) return null
  const parsed = parseClientId(identity.clientId)
  return parsed !== null && parsed.user === identity.user ? parsed : null
}
