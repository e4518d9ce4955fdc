import t from 'tap'
import { CallDevice } from '../helpers/call-device.js'
import { callServer, waitCallEvent, waitCallRecord } from '../helpers/call-server.js'
import { waitFor } from '../helpers/wait-for.js'

t.test('p2p: the server relays SDP between the two devices, which then connect directly; no media runs on the server', async (t) => {
  const { server, port } = await callServer(t, ['alice', 'bob'], { calls: { mediaPortMin: 42600, mediaPortMax: 42699, mediaListenAddress: '127.0.0.1' } })
  const alice = await CallDevice.connect(t, port, 'alice', 'phone', { audio: true, video: false })
  const bob = await CallDevice.connect(t, port, 'bob', 'tablet', { audio: true, video: false })
  const { callId, mode } = await alice.mqtt.request('call.invite', { to: 'bob', media: { audio: true, video: false }, mode: 'p2p' })
  t.equal(mode, 'p2p')
  await waitCallEvent(bob.mqtt, callId, 'ring')
  await bob.mqtt.request('call.accept', { callId })
  await waitCallEvent(alice.mqtt, callId, 'accepted')
  await alice.offer(callId)

  await waitFor(() => alice.mqtt.of('call.signal').some((s) => s.signal.type === 'answer'), 'bob\'s answer at alice')
  t.match(bob.mqtt.of('call.signal')[0], { callId, from: 'alice/phone', signal: { type: 'offer' } })
  t.match(alice.mqtt.of('call.signal')[0], { callId, from: 'bob/tablet', signal: { type: 'answer' } })
  await alice.sendUntil('audio', 'hello-bob', () => bob.got('audio', 'hello-bob'), 'alice\'s audio at bob')
  await bob.sendUntil('audio', 'hello-alice', () => alice.got('audio', 'hello-alice'), 'bob\'s audio at alice')
  t.equal(alice.pc.connectionState, 'connected')
  t.equal(server.calls.mediaStarted, false, 'the server made no media relay')

  await bob.mqtt.request('call.hangup', { callId })
  const record = await waitCallRecord(alice.mqtt, callId)
  t.match(record.body, { mode: 'p2p', reason: 'hangup', quality: null })
})
