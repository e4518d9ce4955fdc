import type { Call } from './call.js'
import type { CallFacts } from './call-ownership.js'
import type { CallRecord, RecordedTrackQuality, TrackQuality } from '../protocol/index.js'
import type { RoomStats, TrackStats } from './media-port.js'

const sum = <T>(items: T[], of: (item: T) => number): number => items.reduce((total, item) => total + of(item), 0)

export type { CallRecord }

// The relay's figures are what devices read on the wire: a change to either that breaks this fails the build.
const wireShape: (t: TrackStats) => TrackQuality = (t) => t
void wireShape

/**
 * The record of a call that ended on this node. `stats` holds the latest
 * figures of every stay of every device (a device that left a group call and
 * joined again has one entry per stay); a track's stays are summed.
 */
export function callRecord (call: Call, stats: RoomStats | undefined): CallRecord {
  const endedAt = call.endedAt ?? Date.now()
  const tracks = new Map<string, { stays: TrackStats[], kind: TrackStats['kind'], source: string }>()
  for (const peer of stats?.peers ?? []) {
    const ordinal = { audio: 0, video: 0 }
    for (const t of peer.tracks) {
      if (t.direction !== 'in') continue
      // A new stay brings new track ids: the n-th track of a kind from a device is the same track.
      const key = `${t.source}|${t.kind}|${ordinal[t.kind]++}`
      const entry = tracks.get(key) ?? { stays: [], kind: t.kind, source: t.source }
      entry.stays.push(t)
      tracks.set(key, entry)
    }
  }
  const inCallMs = (device: string): number => call.spans
    .filter((s) => s.device === device)
    .reduce((sum, s) => sum + Math.max(0, (s.leftAt ?? endedAt) - s.joinedAt), 0)
  const quality: RecordedTrackQuality[] = [...tracks.values()].map(({ stays, kind, source }) => {
    const packets = sum(stays, (t) => t.packets)
    const bytes = sum(stays, (t) => t.bytes)
    const packetsLost = sum(stays, (t) => t.packetsLost)
    const ms = inCallMs(source)
    const rtts = stays.map((t) => t.rttMs).filter((r): r is number => r !== null)
    return {
      source,
      kind,
      packets,
      bytes,
      packetsLost,
      lossRate: packets + packetsLost > 0 ? packetsLost / (packets + packetsLost) : 0,
      // Each stay's jitter weighted by its packets.
      jitterMs: packets > 0 ? sum(stays, (t) => t.jitterMs * t.packets) / packets : stays.at(-1)!.jitterMs,
      rttMs: rtts.at(-1) ?? null,
      bitrateKbps: ms > 0 ? bytes * 8 / ms : 0, // bits per ms = kbit/s
      lastBitrateKbps: stays.at(-1)!.bitrateKbps
    }
  })
  return {
    callId: call.id,
    media: { ...call.media },
    mode: call.mode,
    from: `${call.caller.user}/${call.caller.device}`,
    startedAt: call.startedAt,
    answeredAt: call.answeredAt,
    endedAt,
    durationMs: call.durationMs,
    reason: call.reason ?? 'failed',
    participants: call.spans.map((s) => ({ ...s })),
    quality: call.mode === 'sfu' ? { tracks: quality } : null
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
