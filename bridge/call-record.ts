import type { Call } from './call.js'
import type { CallFacts } from './call-ownership.js'
import type { CallRecord, RecordedTrackQuality, TrackQuality } from '../protocol/index.js'
import type { RoomStats, TrackStats } from './media-port.js'

export type { CallRecord }

// The relay's figures are what devices read on the wire: a change to either that breaks this fails the build.
const wireShape: (t: TrackStats) => TrackQuality = (t) => t
void wireShape

export function callRecord (call: Call, lastStats: RoomStats | undefined): CallRecord {
  const tracks: RecordedTrackQuality[] = []
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
