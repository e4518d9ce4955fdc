import type { Call, LocalCallStats } from 'hail/client'

/** One second of a call's media as this device saw it. */
export interface QualitySample {
  /** seconds since the epoch (uPlot's x axis) */
  t: number
  sendKbps: number
  receiveKbps: number
  /** packets lost of those expected since the last sample, in percent */
  lossPct: number
  jitterMs: number
  rttMs: number | null
  /** decoded video frames per second, summed over remote streams */
  fps: number
  /** decoded video frames so far, summed over remote streams */
  framesDecoded: number
}

/** How much history the graphs keep: two minutes at one sample a second. */
const KEEP = 120

/**
 * Samples the call's peer connection once a second (the SDK's localStats())
 * into the figures the call screen draws as small graphs: bitrate both ways,
 * loss, jitter, round-trip time.
 */
export class QualitySampler {
  readonly #timer: ReturnType<typeof setInterval>
  readonly #samples: QualitySample[] = []
  #lost = 0
  #received = 0

  constructor (call: Call, onSample: (samples: QualitySample[]) => void) {
    this.#timer = setInterval(() => {
      if (call.peerConnection === undefined || call.state === 'ended') return
      call.localStats().then((stats) => {
        this.#samples.push(this.#sample(stats))
        if (this.#samples.length > KEEP) this.#samples.shift()
        onSample([...this.#samples])
      }, () => {})
    }, 1000)
  }

  stop (): void {
    clearInterval(this.#timer)
  }

  #sample (s: LocalCallStats): QualitySample {
    const incoming = s.tracks.filter((t) => t.direction === 'in')
    const outgoing = s.tracks.filter((t) => t.direction === 'out')
    const lost = incoming.reduce((a, t) => a + (t.packetsLost ?? 0), 0)
    const received = incoming.reduce((a, t) => a + t.packets, 0)
    const dLost = Math.max(0, lost - this.#lost)
    const dReceived = Math.max(0, received - this.#received)
    this.#lost = lost
    this.#received = received
    const video = incoming.filter((t) => t.kind === 'video')
    return {
      t: s.ts / 1000,
      sendKbps: outgoing.reduce((a, t) => a + t.bitrateKbps, 0),
      receiveKbps: incoming.reduce((a, t) => a + t.bitrateKbps, 0),
      lossPct: dLost + dReceived === 0 ? 0 : 100 * dLost / (dLost + dReceived),
      jitterMs: incoming.reduce((a, t) => Math.max(a, t.jitterMs ?? 0), 0),
      rttMs: s.rttMs,
      fps: video.reduce((a, t) => a + (t.framesPerSecond ?? 0), 0),
      framesDecoded: video.reduce((a, t) => a + (t.framesDecoded ?? 0), 0)
    }
  }
}
