import t from 'tap'
import { CallDevice } from '../helpers/call-device.js'
import { callServer, waitCallEvent, waitCallRecord, type RawDevice } from '../helpers/call-server.js'
import { waitFor } from '../helpers/wait-for.js'

const audio = { audio: true, video: false }
const calls = { mediaPortMin: 43400, mediaPortMax: 43599, mediaListenAddress: '127.0.0.1', statsIntervalMs: 300 }

/** The relay's live figures of the track it receives from `source` (of `kind`), as the last call.stats on the call's stats topic said. */
function live (d: RawDevice, source: string, kind = 'audio'): any {
  const stats = d.of('call.stats')
  for (let i = stats.length - 1; i >= 0; i--) {
    for (const peer of stats[i].peers) {
      const track = peer.tracks.find((tr: any) => tr.direction === 'in' && tr.source === source && tr.kind === kind)
      if (track !== undefined) return track
    }
  }
  return undefined
}

async function sendFor (d: CallDevice, ms: number, payload: string): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    d.send('audio', payload)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('the record of a 1:1 sfu call holds each track\'s average bitrate over the call and its last live figure', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'], { calls })
  const alice = await CallDevice.connect(t, port, 'alice', 'phone', audio)
  const bob = await CallDevice.connect(t, port, 'bob', 'laptop', audio)
  const { callId } = await alice.mqtt.request('call.invite', { to: 'bob', media: audio })
  await alice.mqtt.client.subscribeAsync(`im/call/${callId}/stats`, { qos: 0 })
  await alice.offer(callId)
  await waitCallEvent(bob.mqtt, callId, 'ring')
  await bob.mqtt.request('call.accept', { callId })
  await bob.offer(callId)
  await alice.sendUntil('audio', 'up', () => bob.got('audio', 'up', 'alice/phone'), 'media up')
  await sendFor(alice, 1500, 'talk')
  await waitFor(() => (live(alice.mqtt, 'alice/phone')?.bitrateKbps ?? 0) > 0, 'a live bitrate for alice\'s audio')
  await alice.mqtt.request('call.hangup', { callId })
  const record = await waitCallRecord(bob.mqtt, callId)
  const track = record.body.quality.tracks.find((q: any) => q.source === 'alice/phone' && q.kind === 'audio')
  t.ok(track.bitrateKbps > 0, `the call's average bitrate: ${String(track.bitrateKbps)} kbps`)
  t.ok(track.lastBitrateKbps > 0, `the last live bitrate: ${String(track.lastBitrateKbps)} kbps`)
  const span = record.body.participants.find((p: any) => p.device === 'alice/phone')
  t.ok(Math.abs(track.bitrateKbps - track.bytes * 8 / (span.leftAt - span.joinedAt)) < 0.01, 'the average is the bytes over alice\'s time in the call')
})

t.test('a member who leaves a group call and joins again on the same device: the record sums both stays', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob', 'carol'], { calls })
  const alice = await CallDevice.connect(t, port, 'alice', 'phone', audio)
  const bob = await CallDevice.connect(t, port, 'bob', 'phone', audio)
  const carol = await CallDevice.connect(t, port, 'carol', 'phone', audio)
  const { conv } = await alice.mqtt.request('group.create', { name: 'team', members: ['bob', 'carol'] })
  const { callId } = await alice.mqtt.request('call.invite', { conv, media: audio })
  await alice.mqtt.client.subscribeAsync(`im/call/${callId}/stats`, { qos: 0 })
  await alice.offer(callId)
  await waitCallEvent(carol.mqtt, callId, 'ring')
  await carol.mqtt.request('call.accept', { callId })
  await carol.offer(callId)
  await waitCallEvent(bob.mqtt, callId, 'ring')
  await bob.mqtt.request('call.accept', { callId })
  await bob.offer(callId)
  await bob.sendUntil('audio', 'first', () => alice.got('audio', 'first', 'bob/phone'), 'bob\'s first stay heard')
  await sendFor(bob, 1500, 'first')
  await waitFor(() => (live(alice.mqtt, 'bob/phone')?.packets ?? 0) >= 50, 'the relay counted bob\'s first stay')
  const first = live(alice.mqtt, 'bob/phone').packets as number
  await bob.mqtt.request('call.hangup', { callId })
  await waitCallEvent(alice.mqtt, callId, 'left')
  await bob.close()

  // The same device again, on a new connection and a new peer connection.
  const again = await CallDevice.connect(t, port, 'bob', 'phone', audio)
  await again.mqtt.request('call.join', { callId })
  await again.offer(callId)
  await again.sendUntil('audio', 'second', () => alice.got('audio', 'second', 'bob/phone'), 'bob\'s second stay heard')
  for (const d of [again, alice, carol]) await d.mqtt.request('call.hangup', { callId })
  const record = await waitCallRecord(alice.mqtt, callId)
  const bobs = record.body.quality.tracks.filter((q: any) => q.source === 'bob/phone' && q.kind === 'audio')
  t.equal(bobs.length, 1, 'one track for bob\'s audio')
  t.ok(bobs[0].packets > first, `both stays counted: ${String(bobs[0].packets)} packets, ${first} in the first`)
  t.equal(record.body.participants.filter((p: any) => p.device === 'bob/phone').length, 2, 'two stays in the participants')
})
