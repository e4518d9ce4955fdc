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
