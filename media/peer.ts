/**
 * One device's connection to the SFU: a werift RTCPeerConnection, its
 * offer/answer state, the tracks it sends (incoming) and the copies of other
 * peers' tracks it receives (forwards). All werift setup is here
 * (createPeerConnection) so transport fixes apply in one place.
 */
import { EventEmitter } from 'node:events'
import { isIPv6 } from 'node:net'
import type { Logger } from 'pino'
import {
  RTCPeerConnection,
  type MediaStreamTrack,
  type RTCDataChannel,
  type RTCRtpReceiver,
  type RTCRtpTransceiver
} from 'werift'
import { applyBindAddresses, bindAddresses } from './bind-addresses.js'
import { sfuCodecs, sfuHeaderExtensions } from './codecs.js'
import { installDtlsLossRepair } from './dtls-loss-repair.js'
import { MediaError } from './errors.js'
import { alignHeaderExtensionIds } from './header-extension-ids.js'
import { sendRemb } from './remb.js'
import { checkCandidate, checkSdp } from './sdp-check.js'
import { isKeyframeStart } from './video-gate.js'
import type { PeerState, Signal } from './types.js'

/** What every peer connection of a MediaServer shares. */
export interface PeerSetup {
  portRange: { min: number, max: number }
  listenAddress: string
  announcedAddresses: string[]
  maxVideoBitrateKbps: number
  logger: Logger
}

/** A track a device sends to the SFU. */
export interface IncomingTrack {
  id: string
  peerId: string
  kind: 'audio' | 'video'
  track: MediaStreamTrack
  receiver: RTCRtpReceiver
  /** Date.now() of the last keyframe request sent for it (Forward throttles). */
  lastKeyframeRequestAt: number
  /** Of the packet being forwarded now: it starts a keyframe. */
  keyframe: boolean
  /** Date.now() when the overload policy last dropped this track's video for someone. */
  overloadedAt: number
}

export type PeerEvents = {
  signal: [Signal]
  state: [PeerState]
  close: []
  /** internal (used by Room): a device track arrived */
  track: [IncomingTrack]
  /** internal: a data channel message from the device */
  data: [string, string | Buffer]
  /** internal: an offer/answer exchange completed */
  negotiated: []
  /** internal: the device asked for a keyframe (PLI or FIR) on these server sender SSRCs */
  keyframeRequest: [number[]]
}

/**
 * Builds the server side RTCPeerConnection.
 * - iceLite: the server only answers the device's connectivity checks. It
 *   never sends checks to addresses a device wrote in its candidates (so it
 *   cannot be used to send UDP to arbitrary hosts) and never gathers
 *   server-reflexive candidates (no STUN query; see noStun below).
 * - iceServers stays empty: MediaServerOptions.iceServers is for clients.
 * - max-bundle: one ICE/DTLS transport per device.
 */
export function createPeerConnection (setup: PeerSetup): RTCPeerConnection {
  // DTLS handshakes survive packet loss (werift 0.25.2 fails ~40 % at 10 % loss): media/dtls-loss-repair.ts
  installDtlsLossRepair()
  const v6 = setup.announcedAddresses.some((a) => isIPv6(a))
  return new RTCPeerConnection({
    codecs: sfuCodecs(),
    headerExtensions: sfuHeaderExtensions(),
    iceServers: [],
    iceLite: true,
    iceUseIpv6: v6,
    iceUseIpv4: true,
    icePortRange: [setup.portRange.min, setup.portRange.max],
    iceInterfaceAddresses: isIPv6(setup.listenAddress) ? { udp6: setup.listenAddress } : { udp4: setup.listenAddress },
    iceAdditionalHostAddresses: setup.announcedAddresses,
    bundlePolicy: 'max-bundle'
  })
}

/**
 * werift's ICE agent falls back to stun.l.google.com:19302 when no stun: URL
 * is configured (ice.js applyStunTurnServersFromOptions) and then waits up to
 * 5 s for a server-reflexive candidate that never comes offline. The server
 * knows its addresses (announcedAddresses), so it must never ask: clear the
 * agent's STUN server before every gathering pass (setLocalDescription).
 */
export function noStun (pc: RTCPeerConnection): void {
  for (const t of pc.iceTransports) {
    (t.connection as unknown as { stunServer: unknown }).stunServer = undefined
  }
}

/** Keeps only the candidates that carry an announced address. */
function announcedOnly (sdp: string, announced: string[]): string {
  return sdp.split('\r\n').filter((line) => {
    if (!line.startsWith('a=candidate:')) return true
    return announced.includes(line.split(' ')[4] ?? '')
  }).join('\r\n')
}

function mapState (s: string): PeerState {
  switch (s) {
    case 'connected': return 'connected'
    case 'failed': return 'failed'
    case 'closed': return 'closed'
    case 'new': return 'new'
    default: return 'connecting' // connecting, disconnected (may recover)
  }
}

export class Peer extends EventEmitter<PeerEvents> {
  readonly id: string
  readonly pc: RTCPeerConnection
  readonly incoming = new Map<string, IncomingTrack>()
  private _state: PeerState = 'new'
  private _ready = false
  private readonly setup: PeerSetup
  private readonly log: Logger
  private queue: Promise<void> = Promise.resolve()
  private needsOffer = false
  private readonly channels = new Map<string, RTCDataChannel>()
  private readonly watched = new WeakSet<object>()
  private readonly bindPlan: Map<string, string>
  private readonly boundAgents = new WeakSet<object>()
  private readonly rembTimer: NodeJS.Timeout
  private closing: Promise<void> | undefined

  constructor (id: string, setup: PeerSetup) {
    super()
    this.id = id
    this.setup = setup
    this.log = setup.logger.child({ peer: id })
    this.pc = createPeerConnection(setup)
    this.bindPlan = bindAddresses(setup.listenAddress, setup.announcedAddresses)
    this.pc.connectionStateChange.subscribe((s) => this.setState(mapState(s)))
    this.pc.ontrack = ({ track, receiver, transceiver }) => this.onTrack(track, receiver, transceiver)
    this.pc.onDataChannel.subscribe((channel) => this.onDataChannel(channel))
    this.rembTimer = setInterval(() => this.sendRembs(), 1000)
  }

  get state (): PeerState { return this._state }
  /** True once the device's first offer was answered. */
  get ready (): boolean { return this._ready }

  /** A signal from the device. Rejects with MediaError on bad input or state. */
  signal (s: Signal): Promise<void> {
    if (this._state === 'closed') return Promise.reject(new MediaError('HAIL_ERR_SIGNAL_STATE', `peer ${this.id} is closed`))
    if (typeof s !== 'object' || s === null) return Promise.reject(new MediaError('HAIL_ERR_SIGNAL_STATE', 'signal must be an object'))
    switch (s.type) {
      case 'offer': {
        let sdp: string
        try { sdp = checkSdp(s.sdp) } catch (err) { return Promise.reject(err) }
        return this.enqueue(() => this.applyOffer(sdp))
      }
      case 'answer': {
        let sdp: string
        try { sdp = checkSdp(s.sdp) } catch (err) { return Promise.reject(err) }
        return this.enqueue(() => this.applyAnswer(sdp))
      }
      case 'candidate': {
        let c: ReturnType<typeof checkCandidate>
        try { c = checkCandidate(s.candidate) } catch (err) { return Promise.reject(err) }
        return this.enqueue(async () => {
          if (c.candidate === '') return
          await this.werift('addIceCandidate', () => this.pc.addIceCandidate(c as never))
        })
      }
      default:
        return Promise.reject(new MediaError('HAIL_ERR_SIGNAL_STATE', `unknown signal type "${String((s as { type: unknown }).type).slice(0, 32)}"`))
    }
  }

  /** Asks for a server offer (a forward was added or removed); one at a time. */
  renegotiate (): void {
    this.needsOffer = true
    this.enqueue(() => this.maybeOffer()).catch((err) => this.log.warn({ err }, 'renegotiation failed'))
  }

  /** Sends a data channel message on the device's channel with this label. */
  sendData (label: string, data: string | Buffer): boolean {
    const ch = this.channels.get(label)
    if (ch === undefined || ch.readyState !== 'open') return false
    ch.send(data)
    return true
  }

  close (): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.rembTimer)
      this.needsOffer = false
      await this.pc.close().catch((err) => this.log.debug({ err }, 'werift close failed'))
      this.setState('closed')
      this.emit('close')
      this.removeAllListeners()
    })()
    return this.closing
  }

  private enqueue (op: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => (this._state === 'closed' ? undefined : op()))
    this.queue = run.catch(() => {})
    return run
  }

  private async werift<T> (what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof MediaError) throw err
      throw new MediaError('HAIL_ERR_MEDIA', `${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    }
  }

  private async applyOffer (sdp: string): Promise<void> {
    if (this.pc.signalingState === 'have-local-offer') {
      // glare: the device wins (the server is the polite side) and re-offers after
      await this.werift('rollback', () => this.pc.setLocalDescription({ type: 'rollback' }))
      this.needsOffer = true
    }
    await this.werift('setRemoteDescription', () => this.pc.setRemoteDescription({ type: 'offer', sdp }))
    this.watchTransports()
    const answer = await this.werift('createAnswer', () => this.pc.createAnswer())
    this.beforeGathering()
    await this.werift('setLocalDescription', () => this.pc.setLocalDescription(answer))
    await this.emitLocal('answer')
    this._ready = true
    this.emit('negotiated')
    await this.maybeOffer()
  }

  private async applyAnswer (sdp: string): Promise<void> {
    if (this.pc.signalingState !== 'have-local-offer') {
      throw new MediaError('HAIL_ERR_SIGNAL_STATE', `answer without an offer (signaling state ${this.pc.signalingState})`)
    }
    await this.werift('setRemoteDescription', () => this.pc.setRemoteDescription({ type: 'answer', sdp }))
    this.watchTransports()
    this.emit('negotiated')
    await this.maybeOffer()
  }

  private async maybeOffer (): Promise<void> {
    // the device makes the first offer; the server offers only once stable and
    // once DTLS is up (werift restarts checks if renegotiated mid-handshake)
    if (!this.needsOffer || this.pc.remoteDescription === null || this.pc.signalingState !== 'stable') return
    if (this._state !== 'connected') return // retried by setState('connected')
    this.needsOffer = false
    alignHeaderExtensionIds(this.pc)
    const offer = await this.werift('createOffer', () => this.pc.createOffer())
    this.beforeGathering()
    await this.werift('setLocalDescription', () => this.pc.setLocalDescription(offer))
    await this.emitLocal('offer')
  }

  /** No STUN query, and sockets bound per media/bind-addresses.ts. */
  private beforeGathering (): void {
    noStun(this.pc)
    applyBindAddresses(this.pc, this.bindPlan, this.boundAgents)
  }

  private async emitLocal (type: 'offer' | 'answer'): Promise<void> {
    if (this.pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const { unSubscribe } = this.pc.iceGatheringStateChange.subscribe((s) => {
          if (s === 'complete') { unSubscribe(); resolve() }
        })
        if (this.pc.iceGatheringState === 'complete') { unSubscribe(); resolve() }
      })
    }
    const local = this.pc.localDescription
    if (local === null || this._state === 'closed') return
    this.emit('signal', { type, sdp: announcedOnly(local.sdp, this.setup.announcedAddresses) })
  }

  /**
   * Keyframe requests are read off the transport, not left to werift's RTCP
   * router (media/router.js routeRtcp), which misroutes both kinds:
   * - PLI: the router tries ssrcTable[senderSsrc] before the media SSRC.
   *   Chromium's PLI carries one of its own outgoing SSRCs as sender SSRC,
   *   which on the server is the RECEIVER of that device's track, so the
   *   forwarding sender never saw it. Routed here by media SSRC only.
   * - FIR (RFC 5104) names its target in the FCI and leaves the media SSRC 0,
   *   so the router never hands it to a sender at all.
   */
  private watchTransports (): void {
    for (const transport of this.pc.dtlsTransports) {
      if (this.watched.has(transport)) continue
      this.watched.add(transport)
      transport.onRtcp.subscribe((p) => {
        const fb = p as { type: number, feedback?: { count?: number, mediaSsrc?: number, fir?: Array<{ ssrc: number }> } }
        if (fb.type !== 206 || fb.feedback === undefined) return
        if (fb.feedback.count === 1 && typeof fb.feedback.mediaSsrc === 'number') {
          this.emit('keyframeRequest', [fb.feedback.mediaSsrc])
        } else if (fb.feedback.count === 4 && Array.isArray(fb.feedback.fir)) {
          this.emit('keyframeRequest', fb.feedback.fir.map((e) => e.ssrc))
        }
      })
    }
  }

  private onTrack (track: MediaStreamTrack, receiver: RTCRtpReceiver, transceiver: RTCRtpTransceiver): void {
    const id = `${this.id}#${transceiver.mid ?? track.uuid}`
    if (this.incoming.has(id)) return
    const kind = track.kind === 'video' ? 'video' : 'audio'
    const t: IncomingTrack = {
      id,
      peerId: this.id,
      kind,
      track,
      receiver,
      lastKeyframeRequestAt: 0,
      keyframe: false,
      overloadedAt: 0
    }
    this.incoming.set(id, t)
    if (kind === 'video') {
      // subscribed before any Forward: once per packet, for every forward of it
      const codecs = (receiver as unknown as { codecs: Record<number, { name: string } | undefined> }).codecs
      track.onReceiveRtp.subscribe((rtp) => {
        t.keyframe = isKeyframeStart(codecs[rtp.header.payloadType]?.name ?? '', rtp.payload)
      })
    }
    this.log.debug({ track: id, kind: t.kind }, 'incoming track')
    this.emit('track', t)
  }

  private onDataChannel (channel: RTCDataChannel): void {
    this.channels.set(channel.label, channel)
    channel.onMessage.subscribe((data) => this.emit('data', channel.label, data))
  }

  /** The REMB cap, halved for a track whose video the overload policy dropped in the last 2 s. */
  private sendRembs (): void {
    if (this._state !== 'connected') return
    const now = Date.now()
    for (const t of this.incoming.values()) {
      if (t.kind === 'video' && t.track.ssrc !== undefined) {
        const cap = this.setup.maxVideoBitrateKbps * 1000
        sendRemb(t.receiver, t.track.ssrc, now - t.overloadedAt < 2000 ? cap / 2 : cap).catch(() => {})
      }
    }
  }

  private setState (s: PeerState): void {
    if (s === this._state || this._state === 'closed') return
    this._state = s
    this.emit('state', s)
    if (s === 'connected' && this.needsOffer) {
      this.enqueue(() => this.maybeOffer()).catch((err) => this.log.warn({ err }, 'renegotiation failed'))
    }
  }
}
