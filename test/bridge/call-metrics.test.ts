import t from 'tap'
import { Registry } from 'prom-client'
import { CallMetrics } from '../../bridge/call-metrics.js'
import type { RoomStats } from '../../media/index.js'

const track = (direction: 'in' | 'out', packets: number, extra: Record<string, unknown> = {}): any => ({
  trackId: 't',
  source: 'alice/phone',
  kind: 'audio',
  direction,
  packets,
  bytes: packets * 100,
  packetsLost: 0,
  lossRate: 0,
  jitterMs: 0,
  rttMs: null,
  bitrateKbps: 32,
  pli: 0,
  nack: 0,
  retransmitted: 0,
  ...extra
})
const stats = (outPackets: number, loss: number): RoomStats => ({
  roomId: 'c1',
  ts: 0,
  peers: [
    { peerId: 'alice/phone', state: 'connected', tracks: [track('in', 10, { lossRate: loss, jitterMs: 4, rttMs: 20 })] },
    { peerId: 'bob/phone', state: 'connected', tracks: [track('out', outPackets)] }
  ]
})

t.test('forwarded packets count only what is new; quality is the mean of running calls; an ended call counts by reason', async (t) => {
  const registry = new Registry()
  const metrics = new CallMetrics(registry)
  metrics.stats('c1', stats(10, 0.1))
  metrics.stats('c1', stats(25, 0.3))
  const text = await registry.metrics()
  t.match(text, /hail_call_forwarded_packets_total 25\n/)
  t.match(text, /hail_call_forwarded_bytes_total 2500\n/)
  t.match(text, /hail_call_loss_ratio 0\.3\n/)
  t.match(text, /hail_call_rtt_seconds 0\.02\n/)
  metrics.callEnded('c1', 'hangup')
  const after = await registry.metrics()
  t.match(after, /hail_calls_total\{reason="hangup"\} 1/)
  t.match(after, /hail_call_loss_ratio 0\n/, 'an ended call no longer weighs on the quality gauges')
})

t.test('an answered call adds its set-up and duration to the histograms; one never answered adds neither', async (t) => {
  const registry = new Registry()
  const metrics = new CallMetrics(registry)
  metrics.callEnded('c1', 'hangup', { startedAt: 1000, answeredAt: 3500, endedAt: 63_500 })
  metrics.callEnded('c2', 'missed', { startedAt: 1000, answeredAt: null, endedAt: 31_000 })
  const text = await registry.metrics()
  t.match(text, /hail_call_setup_seconds_count 1\n/)
  t.match(text, /hail_call_setup_seconds_sum 2\.5\n/, '2.5 s from invite to answer')
  t.match(text, /hail_call_setup_seconds_bucket\{le="2\.5"\} 1\n/)
  t.match(text, /hail_call_duration_seconds_sum 60\n/, '60 s from answer to end')
  t.match(text, /hail_call_duration_seconds_count 1\n/)
  t.match(text, /hail_calls_total\{reason="missed"\} 1/)
})
