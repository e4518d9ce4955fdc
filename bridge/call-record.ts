import type { Call } from './call.js'
import type { CallFacts } from './call-ownership.js'
import type { RoomStats, TrackStats } from './media-port.js'

/** One track as the relay received it, in the record's quality summary: the relay's figures without its ids and counters. */
export type TrackQuality = Pick<TrackStats, 'source' | 'kind' | 'packets' | 'bytes' | 'packetsLost' | 'lossRate' | 'jitterMs' | 'rttMs' | 'bitrateKbps'>

/** The body of the message of kind `call` appended to the conversation when a call ends. */
export interface CallRecord {
  callId: string
  media: { audio: boolean, video: boolean }
  mode: 'sfu' | 'p2p'
  from: string
  startedAt: number
  answeredAt: number | null
  endedAt: number
  durationMs: number
  reason: string
  participants: Array<{ device: string, joinedAt: number, leftAt: number | null }>
  /** Last figures of each track the relay received (sfu only; p2p media never reaches the server). */
  quality: { tracks: TrackQuality[] } | null
}

export function callRecord (call: Call, lastStats: RoomStats | undefined): CallRecord {
  const tracks: TrackQuality[] = []
  for (const peer of lastStats?.peers ?? []) {
    for (const t of peer.tracks) {
      if (t.direction !== 'in') continue
      tracks.push({
        source: t.source,
        kind: t.kind,
        packets: t.packets,
        bytes: t.bytes,
        packetsLost: t.packetsLost,
        lossRate: t.lossRate,
        jitterMs: t.jitterMs,
        rttMs: t.rttMs,
        bitrateKbps: t.bitrateKbps
      })
    }
  }
  return {
    callId: call.id,
    media: { ...call.media },
    mode: call.mode,
    from: `${call.caller.user}/${call.caller.device}`,
    startedAt: call.startedAt,
    answeredAt: call.answeredAt,
    endedAt: call.endedAt ?? Date.now(),
    durationMs: call.durationMs,
    reason: call.reason ?? 'failed',
    participants: call.spans.map((s) => ({ ...s })),
    quality: call.mode === 'sfu' ? { tracks } : null
  }
}

/** The record of a call whose node died ('node-lost'): what the node last told the others; no media figures. */
export function lostCallRecord (facts: CallFacts, endedAt = Date.now()): CallRecord {
  return {
    callId: facts.id,
    media: { ...facts.media },
    mode: facts.mode,
    from: `${facts.caller.user}/${facts.caller.device}`,
    startedAt: facts.startedAt,
    answeredAt: facts.answeredAt,
    endedAt,
    durationMs: facts.answeredAt === null ? 0 : endedAt - facts.answeredAt,
    reason: 'node-lost',
    participants: facts.spans.map((s) => ({ ...s, leftAt: s.leftAt ?? endedAt })),
    quality: null
  }
}
