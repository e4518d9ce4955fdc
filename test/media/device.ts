/**
 * A werift RTCPeerConnection acting as a device in media tests: it offers its
 * tracks to a server-side Peer, answers the server's renegotiation offers,
 * and records every RTP payload it receives, per forwarded track.
 */
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RtpHeader,
  RtpPacket,
  type RTCDataChannel,
  type RTCRtpHeaderExtensionParameters,
  type RTCRtpTransceiver
} from 'werift'
import type { Peer, Signal } from '../../media/index.js'

export interface Received { kind: string, streamId: string | undefined, mid: string | undefined, payloads: string[], seqs: number[], transceiver: RTCRtpTransceiver }

export async function until (check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Test devices announce only 127.0.0.1: tests send traffic to loopback only. */
function loopbackOnly (sdp: string): string {
  return sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') || l.split(' ')[4] === '127.0.0.1').join('\r\n')
}

export interface DeviceOptions {
  audio?: boolean
  video?: boolean
  data?: boolean
  /** RTP header extensions the device's werift offers (default: none) */
  headerExtensions?: { audio?: RTCRtpHeaderExtensionParameters[], video?: RTCRtpHeaderExtensionParameters[] }
  /** rewrites the SDP of the device's own offers before the server sees it */
  mungeOffer?: (sdp: string) => string
}

export class Device {
  readonly pc: RTCPeerConnection
  readonly peer: Peer
  readonly tracks: Partial<Record<'audio' | 'video', MediaStreamTrack>> = {}
  readonly received: Received[] = []
  readonly messages: string[] = []
  readonly serverSignals: Signal[] = []
  channel: RTCDataChannel | undefined
  private chain: Promise<void> = Promise.resolve()
  private seq = 1000

  private readonly mungeOffer: (sdp: string) => string

  constructor (peer: Peer, opts: DeviceOptions = {}) {
    this.peer = peer
    this.mungeOffer = opts.mungeOffer ?? ((sdp) => sdp)
    this.pc = new RTCPeerConnection({
      iceServers: [],
      bundlePolicy: 'max-bundle',
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      ...(opts.headerExtensions !== undefined ? { headerExtensions: { audio: opts.headerExtensions.audio ?? [], video: opts.headerExtensions.video ?? [] } } : {})
    })
    for (const kind of ['audio', 'video'] as const) {
      if (opts[kind] === false) continue
      const track = new MediaStreamTrack({ kind })
      this.tracks[kind] = track
      this.pc.addTransceiver(track, { direction: 'sendrecv' })
    }
    if (opts.data === true) {
      this.channel = this.pc.createDataChannel('hail')
      this.channel.onMessage.subscribe((m) => this.messages.push(m.toString()))
    }
    // Test devices only: werift's full ICE agent would otherwise query its
    // built-in default STUN server (stun.l.google.com); tests touch loopback only.
    for (const t of this.pc.iceTransports) (t.connection as unknown as { stunServer: unknown }).stunServer = undefined
    this.pc.ontrack = ({ track, transceiver, streams }) => {
      const r: Received = { kind: track.kind, streamId: streams[0]?.id, mid: transceiver.mid ?? undefined, payloads: [], seqs: [], transceiver }
      this.received.push(r)
      track.onReceiveRtp.subscribe((rtp) => {
        r.payloads.push(rtp.payload.toString())
        r.seqs.push(rtp.header.sequenceNumber)
      })
    }
    peer.on('signal', (s) => {
      this.serverSignals.push(s)
      this.chain = this.chain.then(() => this.onServerSignal(s)).catch(() => {})
    })
  }

  /** Offers the device's tracks; `gathered` runs once its sockets exist, before the server sees the offer. */
  async offer (gathered?: () => void): Promise<void> {
    const offer = await this.pc.createOffer()
    await this.pc.setLocalDescription(offer)
    await until(() => this.pc.iceGatheringState === 'complete', 'device gathering')
    gathered?.()
    await this.peer.signal({ type: 'offer', sdp: this.mungeOffer(loopbackOnly(this.pc.localDescription!.sdp)) })
  }

  /** Sends one synthetic RTP packet on the device's own track. */
  send (kind: 'audio' | 'video', payload: string): number {
    const seq = this.seq++
    this.tracks[kind]!.writeRtp(new RtpPacket(
      new RtpHeader({ payloadType: kind === 'audio' ? 111 : 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 1234, marker: true }),
      Buffer.from(payload)
    ))
    return seq
  }

  /** Tracks from `from` that are live (not stopped by renegotiation). */
  liveFrom (from: string): Received[] {
    return this.received.filter((r) => r.streamId === from && r.transceiver.currentDirection !== 'inactive' && !r.transceiver.stopped)
  }

  /** Keeps sending until `check` holds (media needs DTLS up and forwards negotiated). */
  async sendUntil (kind: 'audio' | 'video', payload: string, check: () => boolean, what: string): Promise<void> {
    const start = Date.now()
    while (!check()) {
      if (Date.now() - start > 60_000) throw new Error(`timed out waiting for ${what}`)
      this.send(kind, payload)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  async close (): Promise<void> { await this.pc.close() }

  private async onServerSignal (s: Signal): Promise<void> {
    if (s.type === 'answer') {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: s.sdp })
    } else if (s.type === 'offer') {
      await this.pc.setRemoteDescription({ type: 'offer', sdp: s.sdp })
      const answer = await this.pc.createAnswer()
      await this.pc.setLocalDescription(answer)
      await this.peer.signal({ type: 'answer', sdp: loopbackOnly(this.pc.localDescription!.sdp) })
    }
  }
}
