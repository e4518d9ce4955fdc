/**
 * The overload policy: when the SFU falls behind, or one subscriber's socket
 * backs up, video is dropped by a rule and never queued.
 *
 * - Behind: the event loop runs more than LATE_MS late, tick after tick
 *   (LoopLag), so datagrams wait that long in socket buffers before the SFU
 *   reads them.
 * - Backed up: the subscriber's UDP socket has more than QUEUE_VIDEO_MAX
 *   datagrams in libuv's send queue (the kernel refused them for now). That
 *   queue is the only send queue on the path, so it is bounded here.
 * Then, per subscriber (VideoGate), whole video frames are dropped: every
 * delta frame until the next keyframe, keyframes still pass (video goes down
 * to keyframes); once the SFU has caught up, video resumes at the next
 * keyframe, which is asked of the device (PLI) when dropping starts, or
 * RESUME_MS after the overload ended if none comes. Audio is
 * never dropped by this rule. Dropped packets take no sequence numbers (the
 * forward's sequence offset moves back), so a subscriber sees whole frames
 * and no gap to NACK.
 */

/** The event loop runs this much late: the SFU is behind. */
export const LATE_MS = 30
/** A subscriber socket with more datagrams than this waiting in libuv drops video. */
export const QUEUE_VIDEO_MAX = 64
const TICK_MS = 10

/**
 * How late this process's event loop runs, in ms: the least lateness of a
 * 10 ms timer over its last three ticks. When the SFU cannot keep up,
 * datagrams wait in the sockets' receive buffers and every loop turn, which
 * reads them in batches, takes longer: each tick is late by about as long as
 * a packet waits for its turn. One long turn (a DTLS handshake's key
 * exchange, a GC pause) raises one tick only, and is not an overload:
 * dropping video would not help once it is over.
 */
export class LoopLag {
  lagMs = 0
  private timer: NodeJS.Timeout | undefined
  private users = 0
  private expected = 0
  private readonly last = [0, 0, 0]
  private at = 0

  /** Starts the timer (unref'd) for one more user. */
  acquire (): void {
    if (this.users++ > 0) return
    this.expected = performance.now() + TICK_MS
    this.timer = setInterval(() => {
      const now = performance.now()
      this.last[this.at] = Math.max(0, now - this.expected)
      this.at = (this.at + 1) % this.last.length
      this.lagMs = Math.min(...this.last)
      this.expected = now + TICK_MS
    }, TICK_MS)
    this.timer.unref()
  }

  /** Stops the timer when its last user is gone. */
  release (): void {
    if (this.users === 0 || --this.users > 0) return
    clearInterval(this.timer)
    this.timer = undefined
    this.lagMs = 0
    this.last.fill(0)
  }
}

/** The process's loop lag, shared by every forward. */
export const loopLag = new LoopLag()

/** True if an RTP payload starts a keyframe (VP8: RFC 7741; H264: RFC 6184 IDR or SPS). */
export function isKeyframeStart (codec: string, payload: Buffer): boolean {
  if (payload.length < 2) return false
  switch (codec.toLowerCase()) {
    case 'vp8': {
      // payload descriptor: X R N S R PID; S=1 and PID=0 start the frame
      const b0 = payload[0]!
      if ((b0 & 0x10) === 0 || (b0 & 0x07) !== 0) return false
      let at = 1
      if ((b0 & 0x80) !== 0) {
        const x = payload[at++]!
        if ((x & 0x80) !== 0) at += (payload[at]! & 0x80) !== 0 ? 2 : 1 // I: PictureID, 7 or 15 bits
        if ((x & 0x40) !== 0) at++ // L: TL0PICIDX
        if ((x & 0x30) !== 0) at++ // T or K: TID/Y/KEYIDX
      }
      // VP8 payload header: P (inverse key frame flag) is bit 0
      return at < payload.length && (payload[at]! & 0x01) === 0
    }
    case 'h264': {
      const type = payload[0]! & 0x1f
      if (type === 5 || type === 7) return true
      if (type === 24) { // STAP-A: [16-bit size, NAL]...
        for (let at = 1; at + 2 < payload.length;) {
          const size = payload.readUInt16BE(at)
          const t = payload[at + 2]! & 0x1f
          if (t === 5 || t === 7) return true
          at += 2 + size
        }
        return false
      }
      if (type === 28) { // FU-A: start bit and the fragmented NAL's type
        const fu = payload[1]!
        return (fu & 0x80) !== 0 && ((fu & 0x1f) === 5 || (fu & 0x1f) === 7)
      }
      return false
    }
    default:
      return false
  }
}

export type GateDecision = 'send' | 'drop'

/** Dropping ends this long after the overload did, keyframe or not. */
export const RESUME_MS = 1000

/**
 * One subscriber's video of one track: decides per frame (all packets of one
 * RTP timestamp) whether it is sent.
 */
export class VideoGate {
  /** Dropping delta frames until a keyframe. */
  dropping = false
  /** Frames and packets dropped by the policy. */
  droppedFrames = 0
  droppedPackets = 0
  private frameTs: number | undefined
  private frameDecision: GateDecision = 'send'
  private overloadSeenAt = 0

  /**
   * @param keyframe this packet starts a keyframe
   * @param isOverloaded the SFU is behind or the subscriber's socket backs up (asked once per frame)
   * @returns the decision and whether a drop episode just started (ask for a keyframe)
   */
  admit (rtpTimestamp: number, keyframe: boolean, isOverloaded: () => boolean, nowMs: number): { decision: GateDecision, started: boolean } {
    let started = false
    if (rtpTimestamp !== this.frameTs) {
      this.frameTs = rtpTimestamp
      const overloaded = isOverloaded()
      if (overloaded) this.overloadSeenAt = nowMs
      if (keyframe) {
        // keyframes pass, overloaded or not; a keyframe after the overload ends the drop
        this.frameDecision = 'send'
        if (!overloaded) this.dropping = false
      } else if (overloaded || (this.dropping && nowMs - this.overloadSeenAt < RESUME_MS)) {
        // no keyframe came (a source that ignores PLI, a codec not parsed
        // here): resume after RESUME_MS; the subscriber's decoder asks for
        // one itself if it needs it
        if (!this.dropping) started = true
        this.dropping = true
        this.frameDecision = 'drop'
        this.droppedFrames++
      } else {
        this.dropping = false
        this.frameDecision = 'send'
      }
    }
    if (this.frameDecision === 'drop') this.droppedPackets++
    return { decision: this.frameDecision, started }
  }
}
