import { Call, type CallMediaOptions, type CallPort } from './call.js'
import type { CallGrant, CallMedia, CallMode, CallNotice } from '../protocol/index.js'
import { parseCallPayload } from './call-messages.js'
import { HailClientError, toClientError } from './errors.js'
import type { Logger } from './logger.js'
import { isTopicLevel } from './topic-checks.js'
import { TypedEmitter } from './typed-emitter.js'

export interface CallManagerEvents {
  /** A call rings on this device: answer(), reject(), or let it ring out. */
  incoming: [Call]
  /** A call payload the SDK could not read. */
  error: [HailClientError]
}

export interface PlaceOptions extends CallMediaOptions {
  /** A user (a direct call) or a conversation (everyone in it rings); exactly one. */
  to?: string
  conv?: string
  /** Default { audio: true, video: true }. */
  media?: CallMedia
  /** Default 'sfu': media through the server; 'p2p' (1:1 only) relays only SDP and ICE. */
  mode?: CallMode
}

/** What the manager needs from its HailClient. */
export type CallManagerPort = Omit<CallPort, 'forget'>

/** Notices that came before the reply that names their call; kept a short while. */
const EARLY_LIMIT = 64
const EARLY_MS = 30_000
const decoder = new TextDecoder()

/**
 * The calls of one device (`client.calls`): places, joins, and reports the
 * ones that ring here. Reads call events from the inbox, signals from the
 * reply topic, figures from im/call/{callId}/stats (docs/protocol.md, "Calls").
 */
export class CallManager extends TypedEmitter<CallManagerEvents> {
  readonly #port: CallManagerPort
  readonly #calls = new Map<string, Call>()
  readonly #early = new Map<string, { at: number, notices: CallNotice[] }>()
  readonly #log: Logger

  constructor (port: CallManagerPort) {
    super()
    this.#port = port
    this.#log = port.log
  }

  /** The calls this device takes part in or that ring here. */
  get calls (): Call[] {
    return [...this.#calls.values()]
  }

  call (id: string): Call | undefined {
    return this.#calls.get(id)
  }

  /** Invites a user or a conversation, then connects this device's media (it offers first). */
  async place (options: PlaceOptions): Promise<Call> {
    const { to, conv } = options
    if ((to === undefined) === (conv === undefined)) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', 'place() needs either to or conv')
    const target = to ?? conv!
    if (!isTopicLevel(target)) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `'${target}' is not a user or conversation id`)
    const media = options.media ?? { audio: true, video: true }
    const args: Record<string, unknown> = { media, mode: options.mode ?? 'sfu' }
    if (to !== undefined) args.to = to
    else args.conv = conv
    const grant = await this.#port.request('call.invite', args) as CallGrant & { conv: string }
    const call = this.#adopt(grant, { conv: grant.conv, from: this.#port.self.split('/')[0]!, media, direction: 'outgoing' })
    await this.#start(call, grant, options)
    return call
  }

  /** Joins a running group call (one this user was invited to). */
  async join (callId: string, options: CallMediaOptions & { media?: CallMedia }): Promise<Call> {
    if (!isTopicLevel(callId)) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `'${callId}' is not a call id`)
    const grant = await this.#port.request('call.join', { callId }) as CallGrant
    const known = this.#calls.get(callId)
    const call = known ?? this.#adopt(grant, { conv: grant.conv ?? '', from: '', media: options.media ?? { audio: true, video: true }, direction: 'outgoing' })
    await this.#start(call, grant, options, true)
    return call
  }

  /**
   * A payload the client received; true when it was a call message (taken
   * here), false when it is for the client's other handlers.
   * @internal
   */
  take (payload: Uint8Array): boolean {
    const text = decoder.decode(payload)
    // Cheap test first: most payloads are messages and replies, parsed by the client itself.
    const callish = text.includes('"type":"call')
    if (!callish && !text.includes('"type":"error"')) return false
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return false
    }
    if (!callish) return this.#takeError(value)
    const parsed = parseCallPayload(value)
    if (parsed === undefined) return false
    if ('problem' in parsed) {
      this.#report(new HailClientError('HAIL_ERR_BAD_PAYLOAD', parsed.problem))
      return true
    }
    switch (parsed.kind) {
      case 'notice': this.#onNotice(parsed.notice); break
      case 'signal': {
        const call = this.#calls.get(parsed.signal.callId)
        if (call === undefined) this.#log('debug', 'a signal for a call not on this device', { callId: parsed.signal.callId })
        else call.onSignal(parsed.signal.signal)
        break
      }
      case 'stats': this.#calls.get(parsed.stats.callId)?.onStats(parsed.stats)
    }
    return true
  }

  /** A refused signal comes back as an error whose ref is the call id: that call's error, not the client's. */
  #takeError (value: unknown): boolean {
    const e = value as { ref?: unknown, error?: { code?: unknown, message?: unknown } }
    const call = typeof e.ref === 'string' ? this.#calls.get(e.ref) : undefined
    if (call === undefined || typeof e.error?.code !== 'string') return false
    call.onServerError(new HailClientError(e.error.code, String(e.error.message ?? e.error.code), { ref: call.id }))
    return true
  }

  /** Ends every call here (the client is closing); the server ends them when the connection goes. */
  close (): void {
    for (const call of [...this.#calls.values()]) call.abandon('closed')
    this.#early.clear()
  }

  #onNotice (notice: CallNotice): void {
    const known = this.#calls.get(notice.callId)
    if (known !== undefined) return known.onNotice(notice)
    const me = this.#port.self.split('/')[0]
    if (notice.event === 'ring' && notice.from !== me) {
      const call = this.#adopt({ callId: notice.callId, mode: notice.mode, iceServers: [] },
        { conv: notice.conv, from: notice.from, media: notice.media, direction: 'incoming' })
      call.onNotice(notice)
      this.emit('incoming', call)
      return
    }
    // Possibly a call this device is placing whose invite reply is still on its way.
    this.#keepEarly(notice)
  }

  #adopt (grant: CallGrant, init: { conv: string, from: string, media: CallMedia, direction: 'outgoing' | 'incoming' }): Call {
    const call = new Call({ ...this.#port, forget: (c) => { if (this.#calls.get(c.id) === c) this.#calls.delete(c.id) } },
      { id: grant.callId, mode: grant.mode, ...init })
    this.#calls.set(call.id, call)
    const early = this.#early.get(call.id)
    this.#early.delete(call.id)
    // After the caller's code got the call and attached its listeners.
    if (early !== undefined) setTimeout(() => { for (const n of early.notices) call.onNotice(n) }, 0)
    return call
  }

  async #start (call: Call, grant: CallGrant, options: CallMediaOptions, joining = false): Promise<void> {
    try {
      await call.start(grant, options.peer, joining)
    } catch (err) {
      await call.hangup().catch(() => {})
      throw toClientError(err, 'HAIL_ERR_BAD_ARGUMENT', 'setting up the call\'s media')
    }
  }

  #keepEarly (notice: CallNotice): void {
    const now = Date.now()
    for (const [id, entry] of this.#early) if (now - entry.at > EARLY_MS || this.#early.size > EARLY_LIMIT) this.#early.delete(id)
    const entry = this.#early.get(notice.callId) ?? { at: now, notices: [] }
    if (entry.notices.length < 16) entry.notices.push(notice)
    this.#early.set(notice.callId, entry)
  }

  #report (err: HailClientError): void {
    this.#log('debug', err.message, { code: err.code })
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }
}
