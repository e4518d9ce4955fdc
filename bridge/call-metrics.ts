import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { RoomStats } from './media-port.js'

/**
 * Call figures in the server's own Prometheus registry (/metrics): calls
 * running and ended (by reason), packets and bytes the relay forwarded, and
 * the quality of the media it receives (loss, jitter, RTT), averaged over
 * the tracks of running calls.
 */
export class CallMetrics {
  readonly active: Gauge
  readonly ended: Counter<'reason'>
  readonly forwardedPackets: Counter
  readonly forwardedBytes: Counter
  readonly loss: Gauge
  readonly jitter: Gauge
  readonly rtt: Gauge
  readonly setup: Histogram
  readonly duration: Histogram
  /** Last cumulative counts per outgoing track, to add only what is new. */
  readonly #seen = new Map<string, { packets: number, bytes: number }>()
  /** Latest quality per running call. */
  readonly #quality = new Map<string, { loss: number[], jitter: number[], rtt: number[] }>()

  constructor (registry: Registry) {
    const registers = [registry]
    this.active = new Gauge({ name: 'hail_calls_active', help: 'Calls ringing or running', registers })
    this.ended = new Counter({ name: 'hail_calls_total', help: 'Calls ended, by end reason', labelNames: ['reason'] as const, registers })
    this.forwardedPackets = new Counter({ name: 'hail_call_forwarded_packets_total', help: 'RTP packets the media relay sent to call participants', registers })
    this.forwardedBytes = new Counter({ name: 'hail_call_forwarded_bytes_total', help: 'RTP bytes the media relay sent to call participants', registers })
    this.loss = new Gauge({ name: 'hail_call_loss_ratio', help: 'Mean packet loss (0..1) of tracks received from devices in running calls', registers })
    // Prometheus' base unit for time is the second.
    this.jitter = new Gauge({ name: 'hail_call_jitter_seconds', help: 'Mean jitter of tracks received from devices in running calls', registers })
    this.rtt = new Gauge({ name: 'hail_call_rtt_seconds', help: 'Mean round-trip time to devices in running calls', registers })
    this.setup = new Histogram({
      name: 'hail_call_setup_seconds',
      help: 'From the invite to the answer, of calls answered (the callee\'s ringing time included)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60],
      registers
    })
    this.duration = new Histogram({
      name: 'hail_call_duration_seconds',
      help: 'From the answer to the end, of calls answered',
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers
    })
  }

  stats (callId: string, stats: RoomStats): void {
    const q = { loss: [] as number[], jitter: [] as number[], rtt: [] as number[] }
    for (const peer of stats.peers) {
      for (const t of peer.tracks) {
        if (t.direction === 'out') {
          const key = `${callId}|${peer.peerId}|${t.trackId}`
          const last = this.#seen.get(key) ?? { packets: 0, bytes: 0 }
          if (t.packets > last.packets) this.forwardedPackets.inc(t.packets - last.packets)
          if (t.bytes > last.bytes) this.forwardedBytes.inc(t.bytes - last.bytes)
          this.#seen.set(key, { packets: Math.max(t.packets, last.packets), bytes: Math.max(t.bytes, last.bytes) })
        } else {
          q.loss.push(t.lossRate)
          q.jitter.push(t.jitterMs)
        }
        if (t.rttMs !== null) q.rtt.push(t.rttMs)
      }
    }
    this.#quality.set(callId, q)
    this.#update()
  }

  /** The latest quality of one running call, averaged over its tracks; undefined before its first figures. */
  quality (callId: string): { loss: number, jitterMs: number, rttMs: number | null } | undefined {
    const q = this.#quality.get(callId)
    if (q === undefined) return undefined
    return { loss: mean(q.loss), jitterMs: mean(q.jitter), rttMs: q.rtt.length === 0 ? null : mean(q.rtt) }
  }

  /** A call ended; `times` (ms since the epoch) feed the set-up and duration histograms when it was answered. */
  callEnded (callId: string, reason: string, times?: { startedAt: number, answeredAt: number | null, endedAt: number | null }): void {
    this.ended.inc({ reason })
    if (times !== undefined && times.answeredAt !== null) {
      this.setup.observe(Math.max(0, times.answeredAt - times.startedAt) / 1000)
      this.duration.observe(Math.max(0, (times.endedAt ?? Date.now()) - times.answeredAt) / 1000)
    }
    this.#quality.delete(callId)
    for (const key of this.#seen.keys()) if (key.startsWith(`${callId}|`)) this.#seen.delete(key)
    this.#update()
  }

  #update (): void {
    const all = { loss: [] as number[], jitter: [] as number[], rtt: [] as number[] }
    for (const q of this.#quality.values()) {
      all.loss.push(...q.loss)
      all.jitter.push(...q.jitter)
      all.rtt.push(...q.rtt)
    }
    this.loss.set(mean(all.loss))
    this.jitter.set(mean(all.jitter) / 1000)
    this.rtt.set(mean(all.rtt) / 1000)
  }
}

function mean (values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length
}
