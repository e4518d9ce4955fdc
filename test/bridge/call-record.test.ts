import t from 'tap'
import { Call } from '../../bridge/call.js'
import { callRecord } from '../../bridge/call-record.js'

t.test('the record of an answered call: times, reason, each stay, and the received tracks as quality', async (t) => {
  const call = new Call({ id: 'c1', conv: 'd:alice:bob', mode: 'sfu', media: { audio: true, video: false }, group: false, caller: { user: 'alice', device: 'phone' }, callees: ['bob'], maxParticipants: 16, now: 1000 })
  call.start([], 1000)
  call.accept({ user: 'bob', device: 'pc' }, 3000)
  call.hangup({ user: 'bob', device: 'pc' }, 'hangup', 63_000)
  const track = { trackId: 'x', source: 'alice/phone', kind: 'audio' as const, packets: 5, bytes: 500, packetsLost: 1, lossRate: 1 / 6, jitterMs: 3, rttMs: 9, bitrateKbps: 30, pli: 0, nack: 0, retransmitted: 0 }
  const record = callRecord(call, { roomId: 'c1', ts: 63_000, peers: [{ peerId: 'alice/phone', state: 'connected', tracks: [{ ...track, direction: 'in' }, { ...track, direction: 'out', source: 'bob/pc' }] }] })
  t.match(record, { callId: 'c1', from: 'alice/phone', startedAt: 1000, answeredAt: 3000, endedAt: 63_000, durationMs: 60_000, reason: 'hangup' })
  t.same(record.participants, [{ device: 'alice/phone', joinedAt: 1000, leftAt: 63_000 }, { device: 'bob/pc', joinedAt: 3000, leftAt: 63_000 }])
  t.same(record.quality, { tracks: [{ source: 'alice/phone', kind: 'audio', packets: 5, bytes: 500, packetsLost: 1, lossRate: 1 / 6, jitterMs: 3, rttMs: 9, bitrateKbps: 500 * 8 / 62_000, lastBitrateKbps: 30 }] }, 'only what the relay received; the average over alice\'s 62 s and the last live figure')
})

t.test('a device that left a group call and joined again: its track\'s stays are summed, the average is over both stays', async (t) => {
  const call = new Call({ id: 'c2', conv: 'g:aaaaaaaaaaaa', mode: 'sfu', media: { audio: true, video: false }, group: true, caller: { user: 'alice', device: 'phone' }, callees: ['bob'], maxParticipants: 16, now: 0 })
  call.start([], 0)
  call.accept({ user: 'bob', device: 'pc' }, 0)
  call.hangup({ user: 'bob', device: 'pc' }, 'hangup', 10_000)
  call.join({ user: 'bob', device: 'pc' }, 20_000)
  call.hangup({ user: 'bob', device: 'pc' }, 'hangup', 30_000)
  call.hangup({ user: 'alice', device: 'phone' }, 'hangup', 30_000)
  const track = (trackId: string, packets: number, lost: number, jitterMs: number, rttMs: number | null, bitrateKbps: number) => ({ trackId, source: 'bob/pc', kind: 'audio' as const, direction: 'in' as const, packets, bytes: packets * 100, packetsLost: lost, lossRate: 0, jitterMs, rttMs, bitrateKbps, pli: 0, nack: 0, retransmitted: 0 })
  const peers = [
    { peerId: 'bob/pc', state: 'closed' as const, tracks: [track('t1', 300, 10, 2, 8, 24)] },
    { peerId: 'bob/pc', state: 'connected' as const, tracks: [track('t2', 100, 0, 6, null, 40)] }
  ]
  const record = callRecord(call, { roomId: 'c2', ts: 30_000, peers })
  t.same(record.quality, { tracks: [{ source: 'bob/pc', kind: 'audio', packets: 400, bytes: 40_000, packetsLost: 10, lossRate: 10 / 410, jitterMs: (2 * 300 + 6 * 100) / 400, rttMs: 8, bitrateKbps: 40_000 * 8 / 20_000, lastBitrateKbps: 40 }] })
})
