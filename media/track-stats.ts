/**
 * Per-track figures read synchronously from werift's RTP counters and the
 * RTCP sender/receiver reports it has processed (receiver.collectStats /
 * sender.collectStats, the same data werift's getStats() reports).
 */
import type { Forward } from './forward.js'
import type { IncomingTrack, Peer } from './peer.js'
import type { PeerStats, TrackStats } from './types.js'

type Raw = Record<string, unknown> & { type: string, ssrc?: number }
interface Sample { bytes: number, ts: number }

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

function collect (o: unknown, ts: number): Raw[] {
  const c = o as { collectStats?: (ts: number) => Raw[] }
  try {
    return c.collectStats?.(ts) ?? []
  } catch {
    return []
  }
}

export class TrackStatsReader {
  private readonly samples = new Map<string, Sample>()

  peer (peer: Peer, forwards: Forward[], now = Date.now()): PeerStats {
    const out = forwards.map((f) => this.outgoing(f, now))
    const rtts = out.map((t) => t.rttMs).filter((r): r is number => r !== null)
    const rtt = rtts.length > 0 ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null
    const incoming = [...peer.incoming.values()].map((t) => this.incoming(t, rtt, now))
    return { peerId: peer.id, state: peer.state, tracks: [...incoming, ...out] }
  }

  forget (prefix: string): void {
    for (const k of this.samples.keys()) if (k.startsWith(prefix)) this.samples.delete(k)
  }

  private incoming (t: IncomingTrack, rttMs: number | null, now: number): TrackStats {
    const raw = collect(t.receiver, now).find((s) => s.type === 'inbound-rtp' && s.ssrc === t.track.ssrc)
    const packets = num(raw?.packetsReceived)
    const lost = Math.max(0, num(raw?.packetsLost))
    const bytes = num(raw?.bytesReceived)
    return {
      trackId: t.id,
      source: t.peerId,
      kind: t.kind,
      direction: 'in',
      packets,
      bytes,
      packetsLost: lost,
      lossRate: packets + lost > 0 ? lost / (packets + lost) : 0,
      jitterMs: num(raw?.jitter) * 1000,
      rttMs,
      bitrateKbps: this.bitrate(`${t.peerId}|in|${t.id}`, bytes, now),
      pli: num(raw?.pliCount),
      nack: num(raw?.nackCount),
      retransmitted: 0
    }
  }

  private outgoing (f: Forward, now: number): TrackStats {
    const raws = collect(f.sender, now)
    const o = raws.find((s) => s.type === 'outbound-rtp')
    const r = raws.find((s) => s.type === 'remote-inbound-rtp')
    const packets = num(o?.packetsSent)
    const bytes = num(o?.bytesSent)
    const lost = Math.max(0, num(r?.packetsLost))
    const rtt = r !== undefined && typeof r.roundTripTime === 'number' ? r.roundTripTime * 1000 : null
    return {
      trackId: f.source.id,
      source: f.source.peerId,
      kind: f.source.kind,
      direction: 'out',
      packets,
      bytes,
      packetsLost: lost,
      lossRate: r !== undefined ? num(r.fractionLost) : 0,
      jitterMs: f.remoteJitterMs,
      rttMs: rtt,
      bitrateKbps: this.bitrate(`${f.subscriber.id}|out|${f.source.id}`, bytes, now),
      pli: f.keyframeRequests,
      nack: num(o?.nackCount),
      retransmitted: num(o?.retransmittedPacketsSent),
      ...(f.gate !== undefined ? { droppedFrames: f.gate.droppedFrames } : {})
    }
  }

  private bitrate (key: string, bytes: number, now: number): number {
    const prev = this.samples.get(key)
    this.samples.set(key, { bytes, ts: now })
    if (prev === undefined || now <= prev.ts || bytes < prev.bytes) return 0
    return ((bytes - prev.bytes) * 8) / (now - prev.ts) // bits per ms = kbit/s
  }
}
