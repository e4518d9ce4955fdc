import { EventEmitter } from 'node:events'
import pino, { type Logger } from 'pino'
import type { Registry } from 'prom-client'
import { ImError, type Caller, type ImExtension, type ImExtensionCommand, type ImHost } from '../broker/index.js'
import { Call, deviceId, type CallEffect, type Party } from './call.js'
import { CallMetrics } from './call-metrics.js'
import { LocalCallOwnership, type CallAction, type CallEmitter, type CallFacts, type CallOwnership } from './call-ownership.js'
import { callTopics, directConvOf, parseCallTopic } from '../protocol/index.js'
import { callCommands, type CallMethod, type InviteArgs } from '../protocol/schemas.js'
import { newCallId } from './call-id.js'
import { callRecord, lostCallRecord, type CallRecord } from './call-record.js'
import { CallSession } from './call-session.js'
import { handleSignal } from './signal-handler.js'
import type { CallsConfig } from './calls-config.js'
import { InviteLimiter } from './invite-limiter.js'
import type { MediaRooms, RoomStats, Signal } from './media-port.js'

export interface CallBridgeOptions {
  config: CallsConfig
  /** Makes the media relay on the first sfu call (media is lazy: no call, no sockets). */
  media: () => MediaRooms
  /** Which node runs a call; in-process by default. */
  ownership?: CallOwnership
  logger?: Logger
}

export interface CallBridgeEvents {
  /** A call was placed. */
  call: [Call]
  /** A call ended and its record was appended (or failed to be: then `record` is still given). */
  ended: [Call, CallRecord]
  close: []
}

/**
 * Call signaling on MQTT (docs/protocol.md "Calls"): the call.* methods on
 * im/cmd, the topics im/call/{callId}/..., ringing and call events on the
 * parties' inboxes, and the media relay's rooms. An IM extension: the broker
 * calls it, and it speaks only through the ImHost it is given.
 */
export class CallBridge extends EventEmitter<CallBridgeEvents> implements ImExtension {
  readonly subtree = 'call'
  readonly commands: Readonly<Record<CallMethod, ImExtensionCommand>>
  readonly #config: CallsConfig
  readonly #mediaFactory: () => MediaRooms
  readonly #ownership: CallOwnership
  readonly #log: Logger
  #metrics: CallMetrics | undefined
  readonly #limiter: InviteLimiter
  readonly #calls = new Map<string, Call>()
  readonly #sessions = new Map<string, CallSession>()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  readonly #pending = new Set<Promise<void>>()
  /**
   * Users between the busy check and entering a call (an invite being
   * placed, an accept or join under way): both await stores, so without this
   * requests published back to back all pass the check before any is in.
   */
  readonly #entering = new Set<string>()
  #host: ImHost | undefined
  #media: MediaRooms | undefined
  #closing: Promise<void> | undefined

  constructor (options: CallBridgeOptions) {
    super()
    this.#config = options.config
    this.#mediaFactory = options.media
    this.#ownership = options.ownership ?? new LocalCallOwnership()
    this.#log = options.logger ?? pino({ level: 'silent' })
    this.#limiter = new InviteLimiter(this.#config.invitesPerMinute, this.#config.inviteBurst)
    const command = (args: ImExtensionCommand['args'], handle: (caller: Caller, a: any) => Promise<unknown>): ImExtensionCommand => ({ args, handle })
    this.commands = {
      'call.invite': command(callCommands['call.invite'], async (c, a) => await this.invite(c, a)),
      'call.accept': command(callCommands['call.accept'], async (c, a) => await this.#act(c, a.callId, 'accept')),
      'call.join': command(callCommands['call.join'], async (c, a) => await this.#act(c, a.callId, 'join')),
      'call.reject': command(callCommands['call.reject'], async (c, a) => await this.#act(c, a.callId, 'reject')),
      'call.hangup': command(callCommands['call.hangup'], async (c, a) => await this.#act(c, a.callId, 'hangup'))
    }
  }

  /** The factory the server's IM engine calls (CreateServerOptions.imExtensions). */
  attach (host: ImHost): this {
    this.#host = host
    return this
  }

  /** Export call figures in this registry (the server's, for its /metrics); once. */
  registerMetrics (registry: Registry): void {
    this.#metrics ??= new CallMetrics(registry)
  }

  /** Whether the media relay was made (it is, on the first sfu call). */
  get mediaStarted (): boolean {
    return this.#media !== undefined
  }

  /**
   * Hear the other nodes over aedes' emitter (mqemitter-redis), so devices
   * on any node reach the calls this node owns, and end calls whose node
   * died. Nothing to hear with the in-process ownership.
   */
  async start (emitter: CallEmitter): Promise<void> {
    await this.#ownership.start(emitter, {
      act: async (caller, callId, action) => await this.#act(caller, callId, action),
      signal: async (caller, topic, payload) => await this.publish(caller, topic, payload),
      drop: (caller, callId) => {
        const call = this.#calls.get(callId)
        if (call !== undefined) this.#apply(call, call.drop(caller))
      },
      lost: async (facts) => await this.#lost(facts)
    })
  }

  /** Calls ringing or running now. */
  calls (): Call[] {
    return [...this.#calls.values()]
  }

  call (id: string): Call | undefined {
    return this.#calls.get(id)
  }

  /** The relay's latest figures for a running call (mean loss, jitter, RTT of its tracks), once it has some. */
  quality (id: string): { loss: number, jitterMs: number, rttMs: number | null } | undefined {
    return this.#metrics?.quality(id)
  }

  /** Count invites in the Redis the nodes share, so a user's devices on several nodes count together (the server calls this as it starts). */
  shareLimits (redis: Parameters<InviteLimiter['share']>[0]): void {
    this.#limiter.share(redis)
  }

  async invite (caller: Caller, args: InviteArgs): Promise<unknown> {
    if (!(await this.#limiter.take(caller.user))) throw new ImError('HAIL_ERR_RATE_LIMITED', 'too many calls placed; wait a moment')
    this.#enter(caller.user)
    try {
      return await this.#place(caller, args)
    } finally {
      this.#entering.delete(caller.user)
    }
  }

  /** Busy unless the user is in no call and enters none now; then they are entering until the caller deletes them. */
  #enter (user: string, callId?: string): void {
    const other = this.#callOf(user)?.id
    if (other !== undefined && other !== callId) throw new ImError('HAIL_ERR_BUSY', `you are in call ${other}; hang it up first`)
    if (this.#entering.has(user)) throw new ImError('HAIL_ERR_BUSY', 'you are entering another call')
    this.#entering.add(user)
  }

  async #place (caller: Caller, args: InviteArgs): Promise<unknown> {
    const { conv, callees, group } = await this.#resolve(caller, args)
    if (group && args.mode === 'p2p') throw new ImError('HAIL_ERR_BAD_REQUEST', 'p2p mode is for 1:1 calls only')
    // Several nodes: who is in a call any node runs (Redis); then this node's own calls.
    const [mineThere, ...there] = await Promise.all([caller.user, ...callees].map(async (u) => await this.#ownership.busyCallOf(u)))
    const mine = this.#callOf(caller.user)?.id ?? mineThere
    if (mine !== undefined) throw new ImError('HAIL_ERR_BUSY', `you are in call ${mine} already`)
    const busy = callees.filter((u, i) => this.#callOf(u) !== undefined || there[i] !== undefined)
    const id = newCallId()
    if (!(await this.#ownership.claim(id))) throw new ImError('HAIL_ERR_INTERNAL', 'could not take the call; try again')
    const call = new Call({
      id,
      conv,
      mode: args.mode,
      media: args.media,
      group,
      caller,
      callees: callees.filter((u) => !busy.includes(u)),
      maxParticipants: this.#config.maxParticipants
    })
    this.#calls.set(id, call)
    this.#metrics?.active.inc()
    this.#sessions.set(id, new CallSession(call, () => this.#mediaRooms(), {
      signal: (device, signal, from) => this.#sendSignal(call, device, signal, from),
      stats: (stats) => this.#stats(call, stats),
      lost: (err) => {
        this.#log.error({ err, callId: id }, 'the call\'s media worker stopped: call ends')
        this.#apply(call, call.abort('media-lost'))
      }
    }, this.#log.child({ callId: id })))
    this.emit('call', call)
    this.#share(call)
    this.#apply(call, call.start(busy))
    if (call.state === 'ended') throw new ImError('HAIL_ERR_BUSY', `${busy.join(', ')} ${busy.length === 1 ? 'is' : 'are'} in another call`)
    const timer = setTimeout(() => this.#apply(call, call.ringTimeout()), this.#config.ringTimeoutMs)
    timer.unref()
    this.#timers.set(id, timer)
    return { callId: id, conv, mode: call.mode, iceServers: this.#config.iceServers }
  }

  // -- ImExtension: topics

  canPublish (caller: Caller, topic: string): boolean {
    // Any call's signal topic: publish() answers HAIL_ERR_CALL_NOT_FOUND for a call that does
    // not exist or is not the caller's (the same answer for both), instead of a silent drop.
    const t = parseCallTopic(topic)
    return t !== null && t.leaf === 'signal'
  }

  canSubscribe (caller: Caller, filter: string): boolean {
    const t = parseCallTopic(filter)
    return t !== null && ['signal', 'stats', '#', '+'].includes(t.leaf) && this.#isParty(t.callId, caller)
  }

  canReceive (caller: Caller, topic: string): boolean {
    const t = parseCallTopic(topic)
    return t !== null && this.#isParty(t.callId, caller)
  }

  /** A device's signal on im/call/{callId}/signal; every refusal goes back on its reply topic. */
  async publish (caller: Caller, topic: string, payload: Buffer): Promise<void> {
    const t = parseCallTopic(topic)
    const found = t === null ? undefined : this.#calls.get(t.callId)
    // Not a party: as if there were no such call (nothing said about other people's calls).
    const call = found !== undefined && this.#isParty(found.id, caller) ? found : undefined
    if (found !== undefined && call === undefined) {
      this.#publish(this.#requireHost().replyTopic(caller.user, caller.device), { type: 'error', ref: t!.callId, error: { code: 'HAIL_ERR_CALL_NOT_FOUND', message: `no call ${t!.callId}` } })
      return
    }
    // Another node runs this call: its owner checks the signal and answers on the sender's reply topic.
    if (t !== null && call === undefined && await this.#ownership.forwardSignal(caller, t.callId, topic, payload)) return
    const session = call === undefined ? undefined : this.#sessions.get(call.id)
    await handleSignal({
      caller,
      callId: t?.callId ?? null,
      payload,
      call,
      session,
      reply: (event) => this.#publish(this.#requireHost().replyTopic(caller.user, caller.device), event),
      log: this.#log
    })
  }

  disconnected (caller: Caller): void {
    for (const call of [...this.#calls.values()]) this.#apply(call, call.drop(caller))
    for (const callId of this.#ownership.remoteCallsOf(caller.user)) this.#ownership.forwardDrop(caller, callId)
  }

  /** Hang up every call (records written), then close the media relay. */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      for (const call of [...this.#calls.values()]) this.#apply(call, call.abort('shutdown'))
      while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
      await this.#media?.close()
      await this.#ownership.close()
      this.emit('close')
    })()
    return this.#closing
  }

  async #act (caller: Caller, callId: string, action: CallAction): Promise<unknown> {
    const call = this.#calls.get(callId)
    if (call === undefined) {
      const answer = await this.#ownership.forwardAct(caller, callId, action)
      if (answer !== undefined) return answer.result
    }
    if (call === undefined || !this.#mayAct(call, caller, action)) throw new ImError('HAIL_ERR_CALL_NOT_FOUND', `no call ${callId}`)
    const entering = action === 'accept' || action === 'join'
    if (entering) this.#enter(caller.user, callId)
    try {
      return await this.#perform(call, caller, action)
    } finally {
      if (entering) this.#entering.delete(caller.user)
    }
  }

  async #perform (call: Call, caller: Caller, action: CallAction): Promise<unknown> {
    const callId = call.id
    if (action === 'accept' || action === 'join') {
      // Several nodes: enter the user in Redis at once, unless a call any node runs has them (alone: nothing to enter).
      const there = await this.#ownership.enterCall(callId, caller.user)
      const other = this.#callOf(caller.user)?.id ?? there
      if (other !== undefined && other !== callId) {
        this.#ownership.inCall(callId, [...call.participants.keys()])
        throw new ImError('HAIL_ERR_BUSY', `you are in call ${other}; hang it up first`)
      }
    }
    let effects: CallEffect[]
    try {
      effects = call[action](caller)
    } catch (err) {
      this.#ownership.inCall(callId, call.state === 'ended' ? [] : [...call.participants.keys()])
      throw err
    }
    this.#apply(call, effects)
    return action === 'accept' || action === 'join'
      ? { callId, mode: call.mode, iceServers: this.#config.iceServers }
      : { callId }
  }

  /** Parties act; members of a group call's conversation may also join it. */
  #mayAct (call: Call, caller: Caller, action: string): boolean {
    if (call.users.has(caller.user)) return true
    return action === 'join' && call.group && this.#requireHost().members(call.conv).has(caller.user)
  }

  async #resolve (caller: Caller, args: InviteArgs): Promise<{ conv: string, callees: string[], group: boolean }> {
    const host = this.#requireHost()
    if (args.to !== undefined) {
      if (args.to === caller.user) throw new ImError('HAIL_ERR_BAD_REQUEST', 'you cannot call yourself')
      const conv = directConvOf(caller.user, args.to)
      await host.ensureDirect(caller.user, conv)
      return { conv, callees: [args.to], group: false }
    }
    const conv = args.conv!
    if (conv.startsWith('c:')) throw new ImError('HAIL_ERR_BAD_REQUEST', 'calls are for direct and group conversations, not channels')
    if (conv.startsWith('d:')) await host.ensureDirect(caller.user, conv)
    const members = host.members(conv)
    if (!members.has(caller.user)) throw new ImError('HAIL_ERR_NOT_MEMBER', `you are not a member of ${conv}`)
    const callees = [...members.keys()].filter((u) => u !== caller.user)
    if (callees.length === 0) throw new ImError('HAIL_ERR_BAD_REQUEST', `nobody else is in ${conv}`)
    return { conv, callees, group: conv.startsWith('g:') }
  }

  /** The running call a user is in (on any device), if any. */
  #callOf (user: string): Call | undefined {
    for (const call of this.#calls.values()) if (call.participants.has(user)) return call
    return undefined
  }

  #isParty (callId: string, caller: Caller): boolean {
    return this.#calls.get(callId)?.users.has(caller.user) === true || this.#ownership.isRemoteParty(callId, caller.user)
  }

  #apply (call: Call, effects: CallEffect[]): void {
    const session = this.#sessions.get(call.id)
    for (const effect of effects) {
      switch (effect.kind) {
        case 'notify':
          for (const user of effect.users) {
            this.#publish(this.#requireHost().inboxTopic(user), {
              type: 'call',
              event: effect.event,
              callId: call.id,
              conv: call.conv,
              from: call.caller.user,
              media: call.media,
              mode: call.mode,
              ...(effect.by === undefined ? {} : { by: effect.by }),
              ...(effect.reason === undefined ? {} : { reason: effect.reason })
            })
          }
          break
        case 'join':
          try {
            session?.join(effect.device)
          } catch (err) {
            this.#log.error({ err, callId: call.id, device: effect.device }, 'media join failed: call ends')
            queueMicrotask(() => this.#apply(call, call.abort('failed')))
          }
          break
        case 'leave':
          session?.leave(effect.device)
          break
        case 'stopRinging':
          clearTimeout(this.#timers.get(call.id))
          this.#timers.delete(call.id)
          break
        case 'end':
          this.#finish(call, session)
      }
    }
    if (call.state !== 'ended') this.#share(call)
    this.#ownership.inCall(call.id, call.state === 'ended' ? [] : [...call.participants.keys()])
  }

  /** Tell the other nodes (if any) who is party to a call this node runs. */
  #share (call: Call): void {
    this.#ownership.update({
      id: call.id,
      conv: call.conv,
      mode: call.mode,
      media: call.media,
      caller: { user: call.caller.user, device: call.caller.device },
      users: [...call.users],
      startedAt: call.startedAt,
      answeredAt: call.answeredAt,
      spans: call.spans.map((s) => ({ ...s }))
    })
  }

  /** The node running a call died: tell its parties it ended and append its record, as far as it was known. */
  async #lost (facts: CallFacts): Promise<void> {
    const host = this.#requireHost()
    const record = lostCallRecord(facts)
    await Promise.all(facts.users.map(async (user) => await host.publish(host.inboxTopic(user), {
      type: 'call', event: 'ended', callId: facts.id, conv: facts.conv, from: facts.caller.user, media: facts.media, mode: facts.mode, reason: 'node-lost'
    }).catch((err: unknown) => this.#log.warn({ err, callId: facts.id }, 'call event not published'))))
    try {
      await host.append(facts.conv, { from: facts.caller.user, device: facts.caller.device, cid: `call-${facts.id}`, kind: 'call', body: record })
    } catch (err) {
      this.#log.error({ err, callId: facts.id }, 'call record not stored')
    }
  }

  #finish (call: Call, session: CallSession | undefined): void {
    clearTimeout(this.#timers.get(call.id))
    this.#timers.delete(call.id)
    this.#calls.delete(call.id)
    this.#sessions.delete(call.id)
    this.#metrics?.active.dec()
    this.#metrics?.callEnded(call.id, call.reason ?? 'failed', call)
    this.#track((async () => {
      await session?.close().catch((err: unknown) => this.#log.warn({ err, callId: call.id }, 'closing call media failed'))
      const record = callRecord(call, session?.recordStats)
      try {
        await this.#requireHost().append(call.conv, { from: call.caller.user, device: call.caller.device, cid: `call-${call.id}`, kind: 'call', body: record })
      } catch (err) {
        this.#log.error({ err, callId: call.id }, 'call record not stored')
      }
      await this.#ownership.release(call.id)
      this.emit('ended', call, record)
    })())
  }

  #sendSignal (call: Call, device: string, signal: Signal, from?: string): void {
    const slash = device.indexOf('/')
    const topic = this.#requireHost().replyTopic(device.slice(0, slash), device.slice(slash + 1))
    this.#publish(topic, { type: 'call.signal', callId: call.id, signal, ...(from === undefined ? {} : { from }) })
  }

  #stats (call: Call, stats: RoomStats): void {
    this.#metrics?.stats(call.id, stats)
    this.#host?.publish(callTopics.stats(call.id), { type: 'call.stats', callId: call.id, ...stats }, 0)
      .catch((err: unknown) => this.#log.debug({ err }, 'stats not published'))
  }

  #publish (topic: string, event: Record<string, unknown>): void {
    this.#track(this.#requireHost().publish(topic, event).catch((err: unknown) => this.#log.warn({ err, topic }, 'call event not published')))
  }

  #track (work: Promise<void>): void {
    this.#pending.add(work)
    void work.finally(() => this.#pending.delete(work))
  }

  #mediaRooms (): MediaRooms {
    this.#media ??= this.#mediaFactory()
    return this.#media
  }

  #requireHost (): ImHost {
    if (this.#host === undefined) throw new ImError('HAIL_ERR_INTERNAL', 'calls are not attached to a broker')
    return this.#host
  }
}

export { deviceId, type Party }
