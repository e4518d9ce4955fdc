import type { PeerConnectionLike } from './call-peer.js'

/** One RTP stream as this device sees it, from its own peer connection's getStats(). */
export interface LocalTrackStats {
  kind: 'audio' | 'video'
  direction: 'in' | 'out'
  /** Cumulative bytes sent or received. */
  bytes: number
  packets: number
  /** Bitrate since the previous sample (0 on the first). */
  bitrateKbps: number
  /** Inbound only. */
  packetsLost?: number
  jitterMs?: number
  framesDecoded?: number
  /** Outbound only. */
  framesEncoded?: number
  frameWidth?: number
  frameHeight?: number
  framesPerSecond?: number
  /** Chrome's reason for holding back quality: 'bandwidth', 'cpu', 'none' (outbound video). */
  qualityLimitationReason?: string
}

export interface LocalCallStats {
  ts: number
  /** Round-trip time of the selected ICE candidate pair. */
  rttMs: number | null
  /** The sender's bandwidth estimate (Chrome: availableOutgoingBitrate), when it gives one. */
  availableOutgoingKbps: number | null
  tracks: LocalTrackStats[]
}

const num = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) ? v : undefined

/**
 * Turns successive getStats() reports into figures a person reads: bitrate
 * needs two samples, so the sampler keeps the previous byte counts.
 */
export class CallStatsSampler {
  readonly #pc: PeerConnectionLike
  readonly #previous = new Map<string, { bytes: number, ts: number }>()

  constructor (pc: PeerConnectionLike) {
    this.#pc = pc
  }

  async sample (): Promise<LocalCallStats> {
    const report = await this.#pc.getStats()
    const now = Date.now()
    const tracks: LocalTrackStats[] = []
    let rttMs: number | null = null
    let available: number | null = null
    report.forEach((s) => {
      const type = s.type
      if (type === 'candidate-pair' && (s.nominated === true || s.selected === true) && s.state === 'succeeded') {
        const rtt = num(s.currentRoundTripTime)
        if (rtt !== undefined) rttMs = Math.round(rtt * 1000)
        const out = num(s.availableOutgoingBitrate)
        if (out !== undefined) available = Math.round(out / 1000)
        return
      }
      if (type !== 'inbound-rtp' && type !== 'outbound-rtp') return
      const kind = s.kind ?? s.mediaType
      if (kind !== 'audio' && kind !== 'video') return
      const direction = type === 'inbound-rtp' ? 'in' : 'out'
      const bytes = num(direction === 'in' ? s.bytesReceived : s.bytesSent) ?? 0
      const id = String(s.id)
      const before = this.#previous.get(id)
      this.#previous.set(id, { bytes, ts: now })
      const seconds = before === undefined ? 0 : (now - before.ts) / 1000
      const track: LocalTrackStats = {
        kind,
        direction,
        bytes,
        packets: num(direction === 'in' ? s.packetsReceived : s.packetsSent) ?? 0,
        bitrateKbps: seconds > 0 && before !== undefined ? Math.round((bytes - before.bytes) * 8 / seconds / 1000) : 0
      }
      const copy = (key: keyof LocalTrackStats, from: string, scale = 1): void => {
        const v = num(s[from])
        if (v !== undefined) (track as unknown as Record<string, number>)[key] = Math.round(v * scale * 10) / 10
      }
      if (direction === 'in') {
        copy('packetsLost', 'packetsLost')
        copy('jitterMs', 'jitter', 1000)
        copy('framesDecoded', 'framesDecoded')
      } else {
        copy('framesEncoded', 'framesEncoded')
        if (typeof s.qualityLimitationReason === 'string') track.qualityLimitationReason = s.qualityLimitationReason
      }
      copy('frameWidth', 'frameWidth')
      copy('frameHeight', 'frameHeight')
      copy('framesPerSecond', 'framesPerSecond')
      tracks.push(track)
    })
    return { ts: now, rttMs, availableOutgoingKbps: available, tracks }
  }
}
