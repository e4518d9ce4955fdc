import t from 'tap'
import { Call } from '../../bridge/call.js'
import { callRecord } from '../../bridge/call-record.js'

t.test('the record of an answered call: times, reason, each stay, and the received tracks as quality', async (t) => {
  const call = new Call({ id: 'c1', conv: 'd:alice:bob', mode: 'sfu', media: { audio: true, video: false }, group: false, caller: { user: 'alice', device: 'phone' }, callees: ['bob'], maxParticipants: 16, now: 1000 })
  call.start([], 1000)
  call.accept({ user: 'bob', device: 'pc' }, 3000)
  call.hangup({ user: 'bob', device: 'pc' }, 'hangup', 63_000)
  const track = { trackId: 'x', source: 'alice/phone', kind: 'audio' as const, packets: 5, bytes: 500, packetsLost: 1, lossRate: 0.2, jitterMs: 3, rttMs: 9, bitrateKbps: 30, pli: 0, nack: 0, retransmitted: 0 }
  const record = callRecord(call, { roomId: 'c1', ts: 63_000, peers: [{ peerId: 'alice/phone', state: 'connected', tracks: [{ ...track, direction: 'in' }, { ...track, direction: 'out', source: 'bob/pc' }] }] })
  t.match(record, { callId: 'c1', from: 'alice/phone', startedAt: 1000, answeredAt: 3000, endedAt: 63_000, durationMs: 60_000, reason: 'hangup' })
  t.same(record.participants, [{ device: 'alice/phone', joinedAt: 1000, leftAt: 63_000 }, { device: 'bob/pc', joinedAt: 3000, leftAt: 63_000 }])
  t.same(record.quality, { tracks: [{ source: 'alice/phone', kind: 'audio', packets: 5, bytes: 500, packetsLost: 1, lossRate: 0.2, jitterMs: 3, rttMs: 9, bitrateKbps: 30 }] }, 'only what the relay received')
})
