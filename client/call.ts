import type { CallGrant, CallMedia, CallMode, CallNotice, CallQuality, Signal } from '../protocol/index.js'
import type { IceCandidateInit, PeerConnectionFactory, PeerConnectionLike, RemoteTrack } from './call-peer.js'
import { CallStatsSampler, type LocalCallStats } from './call-stats.js'
import { HailClientError, toClientError } from './errors.js'
import type { Logger } from './logger.js'
import { TypedEmitter } from './typed-emitter.js'

/**
 * ringing: placed, nobody answered yet · incoming: ringing here ·
 * connecting: answered, media being set up · active: media connected · ended
 */
export type CallState = 'ringing' | 'incoming' | 'connecting' | 'active' | 'ended'

/** Why a call ended here: a server event name, or what this device did. */
export type EndReason = 'hangup' | 'rejected' | 'busy' | 'cancelled' | 'missed' | 'ended' | 'answered-elsewhere' |
  'media-failed' | 'closed' | 'disconnected' | 'shutdown' | 'failed' | 'node-lost' | 'media-lost' | (string & {})

export interface CallEvents {
  state: [CallState]
  /** The callees' devices ring (the caller's side). */
  ringing: []
  /** Someone answered: `by` is their `{user}/{device}`. */
  accepted: [{ by?: string }]
  /** Another device of this user took the call; the call then ends here. */
  'answered-elsewhere': [{ by?: string }]
  /** The media path is up (the peer connection connected). */
  connected: []
  /** A remote participant's track arrived; show it. */
  track: [RemoteTrack]
  'participant-joined': [{ participant: string }]
  'participant-left': [{ participant: string }]
  /** The server's live quality figures (im/call/{callId}/stats). */
  stats: [CallQuality]
  /** Every server call event for this call, as it came. */
  notice: [CallNotice]
  ended: [{ reason: EndReason, by?: string }]
  error: [HailClientError]
}

/** What a Call needs from its client: requests, publishes, subscriptions. */
export interface CallPort {
  /** `{user}/{device}` of this device. */
  readonly self: string
  request: (method: string, args: Record<string, unknown>) => Promise<unknown>
  publish: (topic: string, payload: object) => Promise<void>
  subscribe: (filters: string[]) => Promise<boolean[]>
  unsubscribe: (filters: string[]) => Promise<void>
  log: Logger
  /** Called once when the call ends, so its manager forgets it. */
  forget: (call: Call) => void
}

export interface CallInit {
  id: string
  conv: string
  from: string
  media: CallMedia
  mode: CallMode
  direction: 'outgoing' | 'incoming'
}

/** Answering or joining a call: how to make this device's peer connection. */
export interface CallMediaOptions {
  peer: PeerConnectionFactory
}

/**
 * One call on this device. The negotiation follows docs/protocol.md
 * ("Calls"): the device offers first; every later offer comes from the
 * server (participants join or leave) and the device answers it; the device
 * trickles its ICE candidates on im/call/{callId}/signal. In p2p mode the
 * caller offers to the device that accepted, and the callee answers.
 */
export class Call extends TypedEmitter<CallEvents> {
  readonly id: string
  readonly conv: string
  /** The user who placed the call. */
  readonly from: string
  readonly media: CallMedia
  readonly mode: CallMode
  readonly direction: 'outgoing' | 'incoming'
  readonly participants = new Set<string>()
  readonly #port: CallPort
  #state: CallState
  #pc: PeerConnectionLike | undefined
  #factory: PeerConnectionFactory | undefined
  #grant: CallGrant | undefined
  #sampler: CallStatsSampler | undefined
  /** Signals are applied one at a time, in the order they came. */
  #chain: Promise<void> = Promise.resolve()
  /** Candidates wait until the description they belong to has been sent. */
  #heldCandidates: IceCandidateInit[] | undefined = []
  #subscribedStats = false
  #ending = false
  /** The media path is up; with someone on the other end too, the call is active. */
  #mediaUp = false

  constructor (port: CallPort, init: CallInit) {
    super()
    this.#port = port
    this.id = init.id
    this.conv = init.conv
    this.from = init.from
    this.media = init.media
    this.mode = init.mode
    this.direction = init.direction
    this.#state = init.direction === 'incoming' ? 'incoming' : 'ringing'
  }

  get state (): CallState {
    return this.#state
  }

  /** This device's peer connection, once media is being set up. */
  get peerConnection (): PeerConnectionLike | undefined {
    return this.#pc
  }

  /** Accepts a ringing call on this device; the first device to accept wins. */
  async answer (options: CallMediaOptions): Promise<void> {
    if (this.#state !== 'incoming') throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `answer() on a call that is ${this.#state}`)
    this.#setState('connecting')
    let grant: CallGrant
    try {
      grant = await this.#port.request('call.accept', { callId: this.id }) as CallGrant
    } catch (err) {
      // Usually another device was first; its 'answered-elsewhere' notice may follow.
      this.#end('accept-failed')
      throw err
    }
    await this.start(grant, options.peer)
  }

  async reject (): Promise<void> {
    if (this.#state !== 'incoming') throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `reject() on a call that is ${this.#state}`)
    try {
      await this.#port.request('call.reject', { callId: this.id })
    } finally {
      this.#end('rejected', this.#port.self)
    }
  }

  /** Leaves the call (cancels it when nobody answered yet); the peer connection closes. */
  async hangup (): Promise<void> {
    if (this.#state === 'ended') return
    try {
      await this.#port.request('call.hangup', { callId: this.id })
    } finally {
      this.#end('hangup', this.#port.self)
    }
  }

  /** This device's own view of its media: bitrates, frames, loss, RTT. */
  async localStats (): Promise<LocalCallStats> {
    if (this.#sampler === undefined) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', 'no media yet')
    return await this.#sampler.sample()
  }

  /**
   * Sets up media after a grant (invite, accept or join): makes the peer
   * connection and, unless this device waits for a p2p offer, offers.
   * @internal the CallManager calls it
   */
  async start (grant: CallGrant, factory: PeerConnectionFactory, joining = false): Promise<void> {
    if (this.#state === 'ended') throw new HailClientError('HAIL_ERR_CLOSED', `call ${this.id} has ended`)
    if (joining) this.#setState('connecting')
    this.#grant = grant
    this.#factory = factory
    this.#subscribeStats()
    // p2p: the caller offers once a device has accepted; the callee waits for that offer.
    if (this.mode === 'p2p') {
      if (this.direction === 'incoming') await this.#ensurePeer()
      return
    }
    await this.#negotiate(async () => await this.#offer())
  }

  /** @internal a server call event for this call */
  onNotice (notice: CallNotice): void {
    if (this.#state === 'ended') return
    this.emit('notice', notice)
    const self = this.#port.self
    const byMe = notice.by === self
    // Another device of this user did it (answered, declined) while this one rang.
    const bySibling = !byMe && notice.by !== undefined && notice.by.split('/')[0] === self.split('/')[0]
    const ringingHere = this.#state === 'incoming'
    const direct = this.conv.startsWith('d:')
    switch (notice.event) {
      case 'ring':
        if (this.direction === 'outgoing') this.emit('ringing')
        return
      case 'accepted':
        if (ringingHere && bySibling) return this.#answeredElsewhere(notice.by)
        if (notice.by !== undefined && !byMe) this.participants.add(notice.by)
        this.emit('accepted', notice.by === undefined ? {} : { by: notice.by })
        if (this.#state === 'ringing') this.#setState('connecting')
        this.#maybeActive()
        if (this.mode === 'p2p' && this.direction === 'outgoing' && this.#factory !== undefined && this.#pc === undefined) {
          void this.#negotiate(async () => await this.#offer())
        }
        return
      case 'answered-elsewhere':
        if (ringingHere && !byMe) this.#answeredElsewhere(notice.by)
        return
      case 'joined':
        if (notice.by !== undefined && !byMe) {
          this.participants.add(notice.by)
          this.emit('participant-joined', { participant: notice.by })
          if (this.#state === 'ringing') this.#setState('connecting')
          this.#maybeActive()
        }
        return
      case 'left':
        if (notice.by !== undefined && notice.by !== this.#port.self) {
          this.participants.delete(notice.by)
          this.emit('participant-left', { participant: notice.by })
        }
        return
      case 'rejected':
      case 'busy':
        // In a group call one callee declining ends nothing but that user's ringing; in a direct call it ends the call.
        if ((direct && this.#state !== 'active') || (ringingHere && bySibling)) this.#end(notice.event, notice.by)
        return
      case 'cancelled':
      case 'missed':
      case 'ended':
        return this.#end(notice.reason ?? notice.event, notice.by)
    }
  }

  /** @internal the server's (or, in p2p, the other device's) signal for this call */
  onSignal (signal: Signal): void {
    if (this.#state === 'ended') return
    void this.#negotiate(async () => {
      switch (signal.type) {
        case 'answer': {
          await this.#peer().setRemoteDescription({ type: 'answer', sdp: signal.sdp })
          return
        }
        case 'offer': {
          const pc = await this.#ensurePeer()
          await pc.setRemoteDescription({ type: 'offer', sdp: signal.sdp })
          await pc.setLocalDescription(await pc.createAnswer())
          await this.#sendDescription('answer', pc)
          return
        }
        case 'candidate':
          if (signal.candidate.candidate === '') return
          await this.#peer().addIceCandidate(signal.candidate)
      }
    })
  }

  /** @internal the server refused one of this call's signals (bad SDP, wrong state …) */
  onServerError (err: HailClientError): void {
    if (this.#state !== 'ended') this.#report(err)
  }

  /** @internal the server's live figures */
  onStats (stats: CallQuality): void {
    if (this.#state !== 'ended') this.emit('stats', stats)
  }

  /** @internal ends the call here without telling the server (the client closes). */
  abandon (reason: EndReason): void {
    this.#end(reason)
  }

  protected override onListenerError (event: keyof CallEvents, err: unknown): void {
    const error = toClientError(err, 'HAIL_ERR_LISTENER', `a call '${String(event)}' listener threw`)
    if (event === 'error') this.#port.log('error', error.message, { err })
    else this.#report(error)
  }

  async #offer (): Promise<void> {
    const pc = await this.#ensurePeer()
    await pc.setLocalDescription(await pc.createOffer())
    await this.#sendDescription('offer', pc)
  }

  async #sendDescription (type: 'offer' | 'answer', pc: PeerConnectionLike): Promise<void> {
    const sdp = pc.localDescription?.sdp
    if (sdp === undefined) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `the peer connection has no local ${type}`)
    await this.#send({ type, sdp })
    const held = this.#heldCandidates
    this.#heldCandidates = undefined
    for (const candidate of held ?? []) void this.#send({ type: 'candidate', candidate }).catch((err: unknown) => this.#report(toClientError(err, 'HAIL_ERR_PUBLISH', 'sending a candidate')))
  }

  async #ensurePeer (): Promise<PeerConnectionLike> {
    if (this.#pc !== undefined) return this.#pc
    if (this.#factory === undefined || this.#grant === undefined) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', 'no media set up for this call')
    const pc = await this.#factory({ iceServers: this.#grant.iceServers ?? [] })
    if (this.#state === 'ended') {
      pc.close()
      throw new HailClientError('HAIL_ERR_CLOSED', 'the call ended while its media was set up')
    }
    this.#pc = pc
    this.#sampler = new CallStatsSampler(pc)
    pc.onicecandidate = (event) => {
      const c = event.candidate
      if (c === null || c === undefined || c.candidate === '') return
      const candidate: IceCandidateInit = { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }
      if (this.#heldCandidates !== undefined) this.#heldCandidates.push(candidate)
      else void this.#send({ type: 'candidate', candidate }).catch((err: unknown) => this.#report(toClientError(err, 'HAIL_ERR_PUBLISH', 'sending a candidate')))
    }
    pc.ontrack = (event) => this.emit('track', { track: event.track, streams: event.streams ?? [] })
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState
      if (state === 'connected' && !this.#mediaUp) {
        this.#mediaUp = true
        this.emit('connected')
        this.#maybeActive()
      } else if (state === 'failed' && this.#state !== 'ended') {
        this.#report(new HailClientError('HAIL_ERR_MEDIA', 'the media connection failed'))
      }
    }
    return pc
  }

  /** In sfu mode the caller's media reaches the relay while the call still rings: active needs an answer too. */
  #maybeActive (): void {
    if (this.#mediaUp && this.#state === 'connecting') this.#setState('active')
  }

  #peer (): PeerConnectionLike {
    if (this.#pc === undefined) throw new HailClientError('HAIL_ERR_BAD_PAYLOAD', 'a signal came before this device had media')
    return this.#pc
  }

  async #send (signal: Signal): Promise<void> {
    await this.#port.publish(`im/call/${this.id}/signal`, signal)
  }

  #negotiate (step: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(async () => {
      if (this.#state === 'ended') return
      await step()
    })
    this.#chain = run.catch((err: unknown) => {
      if (this.#state !== 'ended') this.#report(toClientError(err, 'HAIL_ERR_MEDIA', 'call negotiation'))
    })
    return run
  }

  #subscribeStats (): void {
    if (this.#subscribedStats) return
    this.#subscribedStats = true
    this.#port.subscribe([`im/call/${this.id}/stats`]).then(([ok]) => {
      if (ok !== true) this.#port.log('warn', 'the call stats topic was refused', { callId: this.id })
    }, (err: unknown) => this.#port.log('debug', 'subscribing to call stats failed', { callId: this.id, err }))
  }

  #answeredElsewhere (by: string | undefined): void {
    this.emit('answered-elsewhere', by === undefined ? {} : { by })
    this.#end('answered-elsewhere', by)
  }

  #setState (state: CallState): void {
    if (this.#state === state) return
    this.#state = state
    this.emit('state', state)
  }

  #end (reason: EndReason, by?: string): void {
    if (this.#ending) return
    this.#ending = true
    this.#setState('ended')
    try {
      this.#pc?.close()
    } catch (err) {
      this.#port.log('debug', 'closing the peer connection failed', { err })
    }
    if (this.#subscribedStats) this.#port.unsubscribe([`im/call/${this.id}/stats`]).catch(() => {})
    this.#port.forget(this)
    this.emit('ended', by === undefined ? { reason } : { reason, by })
  }

  #report (err: HailClientError): void {
    this.#port.log('debug', err.message, { callId: this.id, code: err.code })
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else this.#port.log('error', err.message, { callId: this.id, code: err.code })
  }
}
