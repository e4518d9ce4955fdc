/**
 * The overload policy: when the SFU falls behind, or one subscriber's socket
 * backs up, video is dropped by a rule and never queued.
 *
 * - Busy (Overload): the thread's event loop has been busy more than
 *   BUSY_HIGH of the last WINDOW_MS (event-loop utilisation), or runs more
 *   than LATE_MS late tick after tick (LoopLag). Past that, datagrams start
 *   to wait in the sockets' receive buffers, audio among them, and the kernel
 *   drops whatever overflows, audio too. So the monitor admits only part of
 *   the thread's video forwards (one source's video to one subscriber each):
 *   it cuts how many it admits by SHED_FACTOR every SHED_EVERY_MS while busy,
 *   and admits ADMIT_STEP more every ADMIT_EVERY_MS once the loop is below
 *   BUSY_LOW (additive increase, multiplicative decrease), so the loop stays
 *   under the knee and what it carries stays near what it can. Forwards are
 *   shed newest first (a stable rank). A forward not admitted costs no
 *   encryption and no send: it is decided per frame before the
 *   per-subscriber work.
 * - Backed up: the subscriber's UDP socket has more than QUEUE_VIDEO_MAX
 *   datagrams in libuv's send queue (the kernel refused them for now). That
 *   queue is the only send queue on the path, so it is bounded here.
 * Then, per forward (VideoGate), whole video frames are dropped: every
 * delta frame until the next keyframe, keyframes still pass (video goes down
 * to keyframes); once admitted again, video resumes at the next keyframe,
 * which is asked of the device (PLI) then, or RESUME_MS after the overload
 * ended if none comes. Audio is never dropped by this rule. Dropped packets
 * take no sequence numbers (the forward's sequence offset moves back), so a
 * subscriber sees whole frames and no gap to NACK.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks'

/** The event loop runs this much late: the SFU is behind. */
export const LATE_MS = 30
/** A subscriber socket with more datagrams than this waiting in libuv drops video. */
export const QUEUE_VIDEO_MAX = 64
const TICK_MS = 10

/** Loop utilisation over WINDOW_MS above this: shed video. */
export const BUSY_HIGH = 0.92
/** Loop utilisation over WINDOW_MS below this: admit more video. */
export const BUSY_LOW = 0.8
/** The utilisation window. */
export const WINDOW_MS = 100
/** While busy, the admitted video forwards are cut by SHED_FACTOR at most this often. */
export const SHED_EVERY_MS = 50
export const SHED_FACTOR = 0.7
/** While the loop is below BUSY_LOW, ADMIT_STEP (a share of the forwards, at least one) more are admitted this often. */
export const ADMIT_EVERY_MS = 250
export const ADMIT_STEP = 0.1

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
    this.started(this.expected - TICK_MS)
    this.timer = setInterval(() => {
      const now = performance.now()
      this.last[this.at] = Math.max(0, now - this.expected)
      this.at = (this.at + 1) % this.last.length
      this.lagMs = Math.min(...this.last)
      this.expected = now + TICK_MS
      this.tick(now)
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

  /** Called when the timer starts (subclasses). */
  protected started (_now: number): void {}
  /** Called on every tick, after lagMs is updated (subclasses). */
  protected tick (_now: number): void {}
}

/** A forward the monitor admits or sheds: its rank is kept by the monitor. */
export interface Shed { rank: number }

/**
 * The thread's overload monitor and video admission (see the top of this
 * file): busy is the event loop's utilisation over the last WINDOW_MS;
 * admitted is how many video forwards, by rank, may send delta frames.
 */
export class Overload extends LoopLag {
  /** Event-loop utilisation (0..1) over the last WINDOW_MS. */
  busy = 0
  /** Video forwards admitted, by rank; Infinity: all. */
  admitted = Infinity
  /** Times the admitted count was cut (a figure for tests and logs). */
  sheds = 0
  private readonly members: Shed[] = []
  private readonly window: Array<{ at: number, active: number, idle: number }> = []
  private elu: EventLoopUtilization | undefined
  private changedAt = 0

  /** A video forward joins (ranked last: shed first); starts the timer. */
  join (f: Shed): void {
    f.rank = this.members.length
    this.members.push(f)
    this.acquire()
  }

  /** A video forward leaves; the ranks behind it move up. */
  leave (f: Shed): void {
    const i = this.members.indexOf(f)
    if (i < 0) return
    this.members.splice(i, 1)
    for (let k = i; k < this.members.length; k++) this.members[k]!.rank = k
    this.release()
    if (this.members.length === 0) { this.admitted = Infinity; this.busy = 0; this.window.length = 0 }
  }

  /** True while this forward's video is shed (the forward drops delta frames). */
  isShed (f: Shed): boolean { return f.rank >= this.admitted }

  protected override started (now: number): void {
    this.elu = performance.eventLoopUtilization()
    this.changedAt = now
  }

  protected override tick (now: number): void {
    const e = performance.eventLoopUtilization()
    const d = performance.eventLoopUtilization(e, this.elu)
    this.elu = e
    this.window.push({ at: now, active: d.active, idle: d.idle })
    while (this.window.length > 1 && now - this.window[0]!.at > WINDOW_MS) this.window.shift()
    let active = 0
    let idle = 0
    for (const w of this.window) { active += w.active; idle += w.idle }
    this.busy = active + idle > 0 ? active / (active + idle) : 0
    this.control(now, this.busy, this.lagMs)
  }

  /** One step of the controller (exposed for tests): busy 0..1, lag ms. */
  control (now: number, busy: number, lagMs: number): void {
    const n = this.members.length
    if (n === 0) { this.admitted = Infinity; return }
    if (busy > BUSY_HIGH || lagMs > LATE_MS) {
      if (now - this.changedAt >= SHED_EVERY_MS || this.admitted === Infinity) {
        this.admitted = Math.floor(Math.min(this.admitted, n) * SHED_FACTOR)
        this.changedAt = now
        this.sheds++
      }
    } else if (busy < BUSY_LOW && this.admitted !== Infinity && now - this.changedAt >= ADMIT_EVERY_MS) {
      this.admitted += Math.max(1, Math.ceil(n * ADMIT_STEP))
      if (this.admitted >= n) this.admitted = Infinity
      this.changedAt = now
    }
  }
}

/** The thread's overload monitor, shared by every forward of its rooms. */
export const overload = new Overload()

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
  /** What isOverloaded said at the start of the current frame. */
  overloaded = false
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
      this.overloaded = overloaded
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
