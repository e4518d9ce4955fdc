import type { Envelope } from '../protocol/index.js'
import type { Method } from '../protocol/schemas.js'
import { CallManager } from './call-manager.js'
import type { ClientEvents } from './client-events.js'
import type { CommandArgs, CommandResult, ConversationInfo, Member, OutgoingMessage } from './commands.js'
import { MemoryCursorStore } from './cursor-store.js'
import { HailClientError, toClientError } from './errors.js'
import { uploadFile, type FileInfo, type SendFileOptions, type SentFile } from './file-transfer.js'
import { CLIENT_REF, newId } from './ids.js'
import { eventBody, parseServerEvent } from './inbound.js'
import type { Logger } from './logger.js'
import type { HailClientOptions, RequestOptions, SendOptions, SendResult } from './options.js'
import { transportFor } from './mqtt-transport.js'
import { Replies } from './replies.js'
import { SyncEngine } from './sync-engine.js'
import { topics } from '../protocol/index.js'
import { checkConv, isTopicLevel } from './topic-checks.js'
import type { Transport } from './transport.js'
import { TypedEmitter } from './typed-emitter.js'

const DEFAULT_TIMEOUT = 10_000

/**
 * A user's device on a Hail server (docs/protocol.md). Create it, attach
 * listeners, connect: every stored message of every conversation the user is
 * in reaches `message` once, in seq order per conversation, whether it came
 * live, after a gap, or by the catch-up that follows each (re)connection.
 */
export class HailClient extends TypedEmitter<ClientEvents> {
  readonly user: string
  readonly device: string
  /** Voice and video calls of this device (docs/protocol.md, "Calls"). */
  readonly calls: CallManager
  readonly #transport: Transport
  readonly #sync: SyncEngine
  readonly #timeout: number
  readonly #log: Logger
  readonly #replies = new Replies()
  readonly #watched = new Set<string>()
  /** Sends waiting for their reply: cid → conversation. */
  readonly #sending = new Map<string, string>()
  #state: 'new' | 'connecting' | 'open' | 'closed' = 'new'
  /** Inbound events wait here until connect() has resolved, so listeners attached after it miss nothing. */
  #held: Array<[string, Uint8Array]> | undefined = []
  #subscribed: Promise<void> | undefined
  #online = false
  #closing: Promise<void> | undefined

  /** new HailClient(options) and connect(); attach listeners right after the await (nothing is emitted before the next task). */
  static async connect (options: HailClientOptions): Promise<HailClient> {
    const client = new HailClient(options)
    await client.connect()
    return client
  }

  constructor (options: HailClientOptions) {
    super()
    const { user, device } = options
    if (!isTopicLevel(user) || !isTopicLevel(device)) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `'${user}/${device}' is not a user/device client id`)
    if (options.password !== undefined && options.token !== undefined) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', 'give a password or a token, not both')
    this.user = user
    this.device = device
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT
    this.#log = options.logger ?? (() => {})
    this.#transport = options.transport ?? transportFor(options)
    this.calls = new CallManager({
      self: `${user}/${device}`,
      request: async (method, args) => await this.request(method as Method, args as never),
      publish: async (topic, payload) => await this.#transport.publish(topic, JSON.stringify(payload), 1),
      subscribe: async (filters) => await this.#transport.subscribe(filters),
      unsubscribe: async (filters) => await this.#transport.unsubscribe(filters),
      log: this.#log
    })
    this.#sync = new SyncEngine({
      store: options.store ?? new MemoryCursorStore(),
      transport: this.#transport,
      conversations: async () => await this.conversations(),
      fetch: async (conv, after) => await this.request('sync', { conv, after }),
      syncAll: async (after) => await this.request('sync.all', { after }),
      deliver: (message) => {
        this.#settleOwn(message)
        this.emit('message', message)
      },
      synced: () => this.emit('synced'),
      report: (err) => this.#report(err),
      logger: this.#log
    })
    this.#transport.on('connect', ({ sessionPresent }) => this.#onConnect(sessionPresent))
    this.#transport.on('message', (topic, payload) => this.#onPublish(topic, payload))
    this.#transport.on('disconnect', () => {
      // mqtt.js reports each failed reconnect attempt too: one event per lost connection.
      if (!this.#online) return
      this.#online = false
      if (this.#state === 'open') this.emit('disconnect')
    })
    this.#transport.on('error', (err) => {
      const error = toClientError(err, 'HAIL_ERR_CONNECT', 'connection')
      // A refused login needs the app (a new token); an unavailable server is worth showing (the
      // SDK retries by itself); network trouble only needs the reconnects that follow.
      if (error.code === 'HAIL_ERR_NOT_AUTHORIZED' || error.code === 'HAIL_ERR_UNAVAILABLE') this.#report(error)
      else this.#log('debug', error.message, { code: error.code })
    })
  }

  /** Loads the cursors, connects, and subscribes to the user's inbox and this device's replies. */
  async connect (): Promise<void> {
    if (this.#state !== 'new') throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `connect() on a client that is ${this.#state}`)
    this.#state = 'connecting'
    try {
      await this.#sync.load()
    } catch (err) {
      this.#state = 'closed'
      throw err
    }
    try {
      await this.#transport.open()
      await this.#subscribed
    } catch (err) {
      await this.close()
      throw toClientError(err, 'HAIL_ERR_CONNECT', 'cannot connect')
    }
    if (this.#state !== 'connecting') throw new HailClientError('HAIL_ERR_CLOSED', 'the client was closed while connecting')
    this.#state = 'open'
    setTimeout(() => this.#goLive(), 0)
  }

  /** Whether the connection is up now (it drops and comes back by itself). */
  get connected (): boolean {
    return this.#state === 'open' && this.#online
  }

  /** Sends a message; resolves with the server's `sent` reply, rejects with its error code. */
  async send (conv: string, message: OutgoingMessage, options: SendOptions = {}): Promise<SendResult> {
    this.#checkOpen()
    checkConv(conv)
    const cid = options.cid ?? newId()
    if (!CLIENT_REF.test(cid)) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `cid '${cid}' is not 1-64 of A-Z a-z 0-9 _ -`)
    const reply = this.#replies.sends.wait(cid, options.timeout ?? this.#timeout)
    this.#sending.set(cid, conv)
    this.#publish(topics.send(conv), { cid, kind: message.kind, body: message.body }, (err) => this.#replies.sends.reject(cid, err))
    try {
      return await reply
    } finally {
      if (!this.#replies.sends.has(cid)) this.#sending.delete(cid)
    }
  }

  async text (conv: string, text: string, options?: SendOptions): Promise<SendResult> {
    return await this.send(conv, { kind: 'text', body: { text } }, options)
  }

  /**
   * Uploads `data` over MQTT in chunks (resumable: calling it again after a
   * failure sends only what the server lacks), then sends a `file` message
   * to `conv`. Members of `conv` may then download it over HTTP.
   */
  async sendFile (conv: string, data: Uint8Array, info: FileInfo, options: SendFileOptions = {}): Promise<SentFile> {
    this.#checkOpen()
    checkConv(conv)
    const file = await uploadFile({
      request: async (method, args) => await this.request(method, args),
      publishChunk: async (topic, chunk) => await this.#transport.publish(topic, chunk, 1)
    }, data, info, options)
    const message = await this.send(conv, { kind: 'file', body: { fileId: file.fileId, name: file.name, size: file.size, type: file.type } })
    return { file, message }
  }

  /** Any `im/cmd/{method}`; resolves with its result, rejects with the server's error code. */
  async request<M extends Method> (method: M, args: CommandArgs<M>, options: RequestOptions = {}): Promise<CommandResult<M>> {
    this.#checkOpen()
    if (!isTopicLevel(method)) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `'${method}' is not a method name`)
    const req = newId()
    const reply = this.#replies.requests.wait(req, options.timeout ?? this.#timeout)
    this.#publish(topics.cmd(method), { ...args, req }, (err) => this.#replies.requests.reject(req, err))
    return await reply as CommandResult<M>
  }

  /**
   * Pulls what this device has not shown yet, emitting `message` for each:
   * one conversation, or (without `conv`) every conversation the server lists.
   */
  async sync (conv?: string): Promise<void> {
    this.#checkOpen()
    if (conv === undefined) return await this.#sync.catchUp()
    checkConv(conv)
    await this.#sync.sync(conv)
  }

  /** The last seq this device has shown in `conv` (0 when none). */
  cursor (conv: string): number {
    return this.#sync.cursor(conv)
  }

  async markRead (conv: string, seq: number): Promise<number> {
    return (await this.request('read', { conv, seq })).read
  }

  async setPresence (status: 'online' | 'away' | 'busy'): Promise<void> {
    await this.request('presence.set', { status })
  }

  /** Tells the conversation's members this user is (or stopped) typing; QoS 0, fire and forget. */
  typing (conv: string, typing = true): void {
    this.#checkOpen()
    checkConv(conv)
    this.#transport.publish(topics.typing(conv), JSON.stringify({ typing }), 0)
      .catch((err: unknown) => this.#log('debug', 'typing not sent', { conv, err }))
  }

  /** Subscribes to these users' presence; resolves with those the server refused (no shared conversation). */
  async watchPresence (users: string[]): Promise<{ refused: string[] }> {
    this.#checkOpen()
    for (const user of users) if (!isTopicLevel(user)) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `'${user}' is not a user name`)
    const granted = await this.#transport.subscribe(users.map(topics.presence))
    const refused = users.filter((_, i) => granted[i] !== true)
    for (const user of users) if (!refused.includes(user)) this.#watched.add(user)
    return { refused }
  }

  async unwatchPresence (users: string[]): Promise<void> {
    this.#checkOpen()
    for (const user of users) this.#watched.delete(user)
    await this.#transport.unsubscribe(users.map(topics.presence))
  }

  async openDirect (user: string): Promise<string> {
    return (await this.request('direct.open', { user })).conv
  }

  async createGroup (name: string, members: string[] = []): Promise<string> {
    return (await this.request('group.create', { name, members })).conv
  }

  async addMembers (conv: string, users: string[]): Promise<string[]> {
    return (await this.request('conv.add', { conv, users })).added
  }

  async removeMembers (conv: string, users: string[]): Promise<string[]> {
    return (await this.request('conv.remove', { conv, users })).removed
  }

  async leave (conv: string): Promise<void> {
    await this.request('conv.leave', { conv })
    await this.#sync.unsubscribeFeed(conv)
  }

  async rename (conv: string, name: string): Promise<void> {
    await this.request('conv.rename', { conv, name })
  }

  async setRole (conv: string, user: string, role: 'admin' | 'member'): Promise<void> {
    await this.request('conv.role', { conv, user, role })
  }

  async createChannel (name: string, options: { public?: boolean } = {}): Promise<string> {
    const { conv } = await this.request('channel.create', { name, ...options })
    await this.#sync.subscribeFeeds([conv])
    return conv
  }

  /** Follows a channel: its live feed from now on, and its history now. */
  async follow (conv: string): Promise<void> {
    await this.request('channel.follow', { conv })
    await this.#sync.subscribeFeeds([conv])
    await this.#sync.sync(conv)
  }

  async unfollow (conv: string): Promise<void> {
    await this.request('channel.unfollow', { conv })
    await this.#sync.unsubscribeFeed(conv)
  }

  async conversations (): Promise<ConversationInfo[]> {
    return (await this.request('conversations', {})).conversations
  }

  async members (conv: string): Promise<Member[]> {
    return (await this.request('conv.members', { conv })).members
  }

  /** Fails what is pending with HAIL_ERR_CLOSED and disconnects; in-flight publishes get their PUBACK first. */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      const wasOpen = this.#state === 'open'
      this.#state = 'closed'
      const closed = (ref: string): HailClientError => new HailClientError('HAIL_ERR_CLOSED', 'the client was closed', { ref })
      this.#replies.rejectAll(closed)
      this.calls.close()
      this.#sync.close()
      try {
        await this.#transport.close()
      } catch (err) {
        this.#log('debug', 'transport close failed', { err })
      }
      if (wasOpen) this.emit('close')
    })()
    return this.#closing
  }

  protected override onListenerError (event: keyof ClientEvents, err: unknown): void {
    const error = toClientError(err, 'HAIL_ERR_LISTENER', `a '${String(event)}' listener threw`)
    if (event === 'error') this.#log('error', error.message, { err })
    else this.#report(error)
  }

  #onConnect (sessionPresent: boolean): void {
    this.#online = true
    const subscribed = this.#subscribeAll().then(() => {
      this.#log('info', 'connected', { resumed: sessionPresent })
      this.emit('connect', { resumed: sessionPresent })
      if (this.#held === undefined) this.#runCatchUp()
    })
    this.#subscribed = subscribed
    // The first connection's failure is connect()'s to report.
    if (this.#state === 'open') subscribed.catch((err: unknown) => this.#report(toClientError(err, 'HAIL_ERR_SUBSCRIBE', 'resubscribing')))
  }

  /** Harmless when the session was resumed: the broker replaces a subscription to the same filter (MQTT 3.1.1 §3.8.4). */
  async #subscribeAll (): Promise<void> {
    const base = [topics.inboxFilter(this.user), topics.reply(this.user, this.device)]
    const granted = await this.#transport.subscribe(base)
    const refused = base.filter((_, i) => granted[i] !== true)
    if (refused.length > 0) throw new HailClientError('HAIL_ERR_SUBSCRIBE', `the broker refused ${refused.join(', ')}`)
    const optional = [...this.#sync.feedTopics, ...[...this.#watched].map(topics.presence)]
    if (optional.length > 0) {
      const ok = await this.#transport.subscribe(optional)
      const lost = optional.filter((_, i) => ok[i] !== true)
      if (lost.length > 0) this.#log('warn', 'subscriptions refused after reconnecting', { topics: lost })
    }
  }

  #goLive (): void {
    const held = this.#held ?? []
    this.#held = undefined
    if (this.#state !== 'open') return
    for (const [topic, payload] of held) this.#dispatch(topic, payload)
    this.#runCatchUp()
  }

  #runCatchUp (): void {
    this.#sync.catchUp().catch((err: unknown) => this.#report(toClientError(err, 'HAIL_ERR_SYNC', 'catch-up sync failed')))
  }

  #onPublish (topic: string, payload: Uint8Array): void {
    if (this.#held !== undefined && !topic.startsWith('im/reply/')) this.#held.push([topic, payload])
    else this.#dispatch(topic, payload)
  }

  #dispatch (topic: string, payload: Uint8Array): void {
    if (this.calls.take(payload)) return
    const parsed = parseServerEvent(payload)
    if ('problem' in parsed) {
      this.#report(new HailClientError('HAIL_ERR_BAD_PAYLOAD', `${topic}: ${parsed.problem}`))
      return
    }
    const event = parsed.event
    switch (event.type) {
      case 'message': return this.#onMessage(topic, event.msg)
      case 'receipt':
        this.#sync.expect(event.conv, event.delivered)
        this.emit('receipt', eventBody(event))
        return
      case 'typing': this.emit('typing', eventBody(event)); return
      case 'presence': this.emit('presence', eventBody(event)); return
      case 'conversation': return this.#onConversation(eventBody(event))
      case 'sent':
      case 'error':
      case 'result': {
        if (event.type === 'sent') this.#sync.expect(event.conv, event.seq)
        const stray = this.#replies.settle(event)
        if (stray !== undefined) this.#report(stray)
      }
    }
  }

  #onMessage (topic: string, message: Envelope): void {
    // An inbox or feed topic names its conversation; a message must agree with it.
    const named = topic.split('/')[topic.startsWith('im/conv/') ? 2 : 3]
    if (named !== undefined && named !== message.conv) {
      this.#report(new HailClientError('HAIL_ERR_BAD_PAYLOAD', `${topic}: carries a message of ${message.conv}`))
      return
    }
    this.#settleOwn(message)
    this.#sync.push(message)
  }

  /**
   * This device's own message, live (the echo in its inbox) or from sync,
   * settles a send still waiting for its `sent` reply: the server sends that
   * reply at QoS 0 (protocol v2), so a connection lost after the PUBACK may
   * lose it, never the message.
   */
  #settleOwn (message: Envelope): void {
    if (message.from !== this.user || message.device !== this.device || this.#sending.get(message.cid) !== message.conv) return
    const { cid, conv, seq, id, ts } = message
    this.#replies.sends.resolve(cid, { cid, conv, seq, id, ts, duplicate: false })
  }

  #onConversation (event: ClientEvents['conversation'][0]): void {
    this.emit('conversation', event)
    this.#sync.onConversation(event.event, event.conv)
  }

  #publish (topic: string, payload: object, fail: (err: HailClientError) => void): void {
    let publishing: Promise<void>
    try {
      publishing = this.#transport.publish(topic, JSON.stringify(payload), 1)
    } catch (err) {
      publishing = Promise.reject(err)
    }
    publishing.catch((err: unknown) => fail(toClientError(err, 'HAIL_ERR_PUBLISH', `publish to ${topic}`)))
  }

  #checkOpen (): void {
    if (this.#state === 'closed') throw new HailClientError('HAIL_ERR_CLOSED', 'the client is closed')
    if (this.#state !== 'open') throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', 'connect() first')
  }

  /** To the `error` listeners; to the logger when there is none (an EventEmitter would throw). */
  #report (err: HailClientError): void {
    if (this.#state === 'closed' && err.code === 'HAIL_ERR_CLOSED') return
    this.#log('debug', err.message, { code: err.code })
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else this.#log('error', err.message, { code: err.code })
  }
}
