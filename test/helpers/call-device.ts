import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift'
import type { Test } from 'tap'
import { RawDevice } from './im-server.js'
import { waitFor } from './wait-for.js'

export interface Received { kind: string, streamId: string | undefined, payloads: Set<string>, transceiver: RTCRtpTransceiver }

/**
 * A device in a call as a real client would be: an MQTT connection (plain
 * mqtt.js, no SDK) and a werift RTCPeerConnection whose offers, answers and
 * candidates travel on the call's MQTT topics. It answers every offer it is
 * sent (the relay's renegotiations, or the other device's in p2p) and
 * records the RTP payloads it receives, per track.
 */
export class CallDevice {
  readonly pc: RTCPeerConnection
  readonly tracks: Partial<Record<'audio' | 'video', MediaStreamTrack>> = {}
  readonly received: Received[] = []
  callId: string | undefined
  #chain: Promise<void> = Promise.resolve()
  #seen = 0
  #seq = 1000
  #timer: NodeJS.Timeout

  private constructor (readonly mqtt: RawDevice, media: { audio: boolean, video: boolean }) {
    this.pc = new RTCPeerConnection({ iceServers: [], iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], bundlePolicy: 'max-bundle' })
    // Tests touch loopback only: keep werift's agent off its built-in public STUN server.
    for (const t of this.pc.iceTransports) (t.connection as unknown as { stunServer: unknown }).stunServer = undefined
    for (const kind of ['audio', 'video'] as const) {
      if (!media[kind]) continue
      const track = new MediaStreamTrack({ kind })
      this.tracks[kind] = track
      this.pc.addTransceiver(track, { direction: 'sendrecv' })
    }
    this.pc.ontrack = ({ track, transceiver, streams }) => {
      const r: Received = { kind: track.kind, streamId: streams[0]?.id, payloads: new Set(), transceiver }
      this.received.push(r)
      track.onReceiveRtp.subscribe((rtp) => { r.payloads.add(rtp.payload.toString()) })
    }
    // Signals from the server arrive as events on the reply topic; take them in order.
    this.#timer = setInterval(() => this.#drain(), 10)
  }

  static async connect (t: Test, port: number, user: string, device: string, media = { audio: true, video: true }): Promise<CallDevice> {
    const mqtt = await RawDevice.connect(t, port, user, device)
    const d = new CallDevice(mqtt, media)
    t.teardown(async () => await d.close())
    return d
  }

  get id (): string {
    return `${this.mqtt.user}/${this.mqtt.device}`
  }

  /** Send this device's offer (all candidates in it) on the call's signal topic. */
  async offer (callId: string): Promise<void> {
    this.callId = callId
    await this.pc.setLocalDescription(await this.pc.createOffer())
    await waitFor(() => this.pc.iceGatheringState === 'complete', `${this.id} gathering`)
    await this.#signal({ type: 'offer', sdp: this.pc.localDescription!.sdp })
  }

  /** Send one synthetic RTP packet on this device's own track. */
  send (kind: 'audio' | 'video', payload: string): void {
    const seq = this.#seq++
    this.tracks[kind]?.writeRtp(new RtpPacket(
      new RtpHeader({ payloadType: kind === 'audio' ? 111 : 96, sequenceNumber: seq & 0xffff, timestamp: seq * 3000, ssrc: 1234, marker: true }),
      Buffer.from(payload)
    ))
  }

  /** Keep sending until `check` holds: media flows once ICE and DTLS are up and the forward is negotiated. */
  async sendUntil (kind: 'audio' | 'video', payload: string, check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      this.send(kind, payload)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** Whether a live track (not stopped by renegotiation) from `from` carried `payload`. */
  got (kind: string, payload: string, from?: string): boolean {
    return this.received.some((r) => r.kind === kind && r.payloads.has(payload) && (from === undefined || r.streamId === from) &&
      r.transceiver.currentDirection !== 'inactive' && !r.transceiver.stopped)
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    await this.pc.close()
    await this.mqtt.end()
  }

  #drain (): void {
    const signals = this.mqtt.of('call.signal')
    while (this.#seen < signals.length) {
      const event = signals[this.#seen++]
      this.callId ??= event.callId
      this.#chain = this.#chain.then(async () => await this.#onSignal(event.signal)).catch(() => {})
    }
  }

  async #onSignal (s: { type: string, sdp?: string }): Promise<void> {
    if (s.type === 'answer') await this.pc.setRemoteDescription({ type: 'answer', sdp: s.sdp! })
    if (s.type === 'offer') {
      await this.pc.setRemoteDescription({ type: 'offer', sdp: s.sdp! })
      await this.pc.setLocalDescription(await this.pc.createAnswer())
      await waitFor(() => this.pc.iceGatheringState === 'complete', `${this.id} gathering`)
      await this.#signal({ type: 'answer', sdp: this.pc.localDescription!.sdp })
    }
  }

  async #signal (s: unknown): Promise<void> {
    await this.mqtt.client.publishAsync(`im/call/${this.callId!}/signal`, JSON.stringify(s), { qos: 1 })
  }
}
