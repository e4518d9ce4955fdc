/**
 * One incoming track copied to one subscriber: a sendonly transceiver on the
 * subscriber's connection fed with the source's RTP through the fast path
 * (media/rtp-fast-path.ts), which rewrites SSRC, payload type, sequence
 * numbers and header extensions as werift's sender would and keeps its
 * 128-packet history, from which werift answers the subscriber's NACKs. Keyframe requests (PLI and
 * FIR, read off the subscriber's transport by Peer -> 'keyframeRequest' ->
 * Room, matched on this sender's SSRC) go back to the source device as a PLI.
 */
import { MediaStreamTrack, PictureLossIndication, RtcpPayloadSpecificFeedback, type RTCRtpSender, type RTCRtpTransceiver, type RtcpPacket } from 'werift'
import type { IncomingTrack, Peer } from './peer.js'
import { RtpFastPath } from './rtp-fast-path.js'
import { overload, QUEUE_VIDEO_MAX, VideoGate, type Shed } from './video-gate.js'

/** Sender SSRC of the SFU's keyframe requests; never announced in SDP. */
const KEYFRAME_SENDER_SSRC = 1
/** Keyframe requests to one source closer than this are dropped. */
const KEYFRAME_MIN_INTERVAL_MS = 300
const RTCP_SR = 200
const RTCP_RR = 201

export class Forward implements Shed {
  readonly source: IncomingTrack
  readonly subscriber: Peer
  readonly sender: RTCRtpSender
  readonly transceiver: RTCRtpTransceiver
  /** Sends the source's packets on this.sender. */
  readonly fast: RtpFastPath
  /** The overload policy for a video source (media/video-gate.ts). */
  readonly gate: VideoGate | undefined
  /** Keyframe requests relayed to the source on behalf of this subscriber. */
  keyframeRequests = 0
  /** Set once a PLI was sent after the subscriber's transport came up. */
  firstKeyframeAsked = false
  /** Its place in the thread's video admission (media/video-gate.ts Overload): shed from the last. */
  rank = 0
  /** Interarrival jitter the subscriber reported in its last receiver report. */
  remoteJitterMs = 0
  private readonly stops: Array<() => void> = []
  private stopped = false

  constructor (source: IncomingTrack, subscriber: Peer) {
    this.source = source
    this.subscriber = subscriber
    const local = new MediaStreamTrack({ kind: source.kind, id: source.id })
    // msid stream id = the sending peer's id, so a device can tell who a track is
    const transceiver = subscriber.pc.addTransceiver(local, { direction: 'sendonly' })
    transceiver.sender.streamId = source.peerId
    this.transceiver = transceiver
    this.sender = transceiver.sender
    this.fast = new RtpFastPath(this.sender)
    this.gate = source.kind === 'video' ? new VideoGate() : undefined
    if (this.gate !== undefined) {
      overload.join(this)
      this.stops.push(() => overload.leave(this))
    }
    // the local track only names the m-line (kind, msid); packets skip it
    const rtp = source.track.onReceiveRtp.subscribe((packet) => {
      if (this.stopped) return
      if (this.gate !== undefined && !this.admitVideo(packet.header.timestamp)) return
      this.fast.send(packet)
    })
    this.stops.push(() => rtp.unSubscribe())
    const rtcp = this.sender.onRtcp.subscribe((p: RtcpPacket) => {
      const fb = p as { type: number, reports?: Array<{ ssrc: number, jitter: number }> }
      if (fb.type === RTCP_SR || fb.type === RTCP_RR) {
        const report = fb.reports?.find((r) => r.ssrc === this.sender.ssrc)
        const clockRate = this.source.kind === 'video' ? 90000 : 48000
        if (report !== undefined) this.remoteJitterMs = (report.jitter / clockRate) * 1000
      }
    })
    this.stops.push(() => rtcp.unSubscribe())
    this.stops.push(() => local.stop())
  }

  private readonly overloaded = (): boolean =>
    overload.isShed(this) || this.fast.sendQueueSize() > QUEUE_VIDEO_MAX

  /** The overload policy on one video packet (media/video-gate.ts); false: dropped. */
  private admitVideo (timestamp: number): boolean {
    const { decision, started } = this.gate!.admit(timestamp, this.source.keyframe, this.overloaded, Date.now())
    if (started) this.source.overloadedAt = Date.now()
    // video resumes at the next keyframe: ask for one (throttled per source) once
    // admitted again and waiting; not while shed (a keyframe costs more than a delta)
    if (this.gate!.dropping && !this.gate!.overloaded) this.requestKeyframe()
    if (decision === 'send') return true
    this.fast.skip()
    return false
  }

  /** True once the subscriber's answer made this m-line sending. */
  get negotiated (): boolean {
    const d = this.transceiver.currentDirection
    return d === 'sendonly' || d === 'sendrecv'
  }

  /** Asks the source device for a keyframe (PLI). */
  requestKeyframe (): void {
    if (this.stopped || this.source.kind !== 'video' || this.source.track.ssrc === undefined) return
    // one keyframe serves every subscriber: at most one PLI per source per interval
    const now = Date.now()
    if (now - this.source.lastKeyframeRequestAt < KEYFRAME_MIN_INTERVAL_MS) return
    this.source.lastKeyframeRequestAt = now
    this.keyframeRequests++
    // Not receiver.sendRtcpPLI(): its sender SSRC is one the device knows as a
    // remote stream, and werift's RTCP router (media/router.js) looks the
    // sender SSRC up before the media SSRC, so a werift device hands that PLI
    // to its receiver and the sender never sees it. KEYFRAME_SENDER_SSRC is
    // in no SDP, so routing falls through to the media SSRC, as intended.
    const packet = new RtcpPayloadSpecificFeedback({
      feedback: new PictureLossIndication({ senderSsrc: KEYFRAME_SENDER_SSRC, mediaSsrc: this.source.track.ssrc })
    })
    const transport = this.source.receiver.dtlsTransport as unknown as { sendRtcp: (p: unknown[]) => Promise<unknown> }
    transport.sendRtcp([packet]).catch(() => {})
  }

  /** Stops forwarding and removes the track from the subscriber (renegotiates). */
  stop (): void {
    if (this.stopped) return
    this.stopped = true
    for (const s of this.stops) s()
    if (this.subscriber.state !== 'closed') {
      try {
        this.subscriber.pc.removeTrack(this.sender)
      } catch {
        // the connection closed meanwhile
      }
      this.subscriber.renegotiate()
    }
  }
}
