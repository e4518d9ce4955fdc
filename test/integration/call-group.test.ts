import t from 'tap'
import { CallDevice } from '../helpers/call-device.js'
import { callServer, waitCallEvent, waitCallRecord } from '../helpers/call-server.js'
import { waitFor } from '../helpers/wait-for.js'

const audio = { audio: true, video: false }

t.test('a 3-party group call forwards every track to every other participant; join and leave renegotiate', async (t) => {
  const { server, port } = await callServer(t, ['alice', 'bob', 'carol', 'dave'], {
    calls: { mediaPortMin: 42400, mediaPortMax: 42599, mediaListenAddress: '127.0.0.1', statsIntervalMs: 500 }
  })
  const alice = await CallDevice.connect(t, port, 'alice', 'phone', audio)
  const bob = await CallDevice.connect(t, port, 'bob', 'phone', audio)
  const carol = await CallDevice.connect(t, port, 'carol', 'phone', audio)
  const dave = await CallDevice.connect(t, port, 'dave', 'phone', audio)
  const { conv } = await alice.mqtt.request('group.create', { name: 'team', members: ['bob', 'carol', 'dave'] })

  const { callId } = await alice.mqtt.request('call.invite', { conv, media: audio })
  await alice.offer(callId)
  for (const d of [bob, carol]) {
    await waitCallEvent(d.mqtt, callId, 'ring')
    await d.mqtt.request('call.accept', { callId })
    await d.offer(callId)
  }
  const three = [alice, bob, carol]
  for (const from of three) {
    for (const to of three) {
      if (from === to) continue
      await from.sendUntil('audio', `${from.id}>${to.id}`, () => to.got('audio', `${from.id}>${to.id}`, from.id), `${from.id}'s audio at ${to.id}`)
    }
  }
  t.pass('each of three participants hears the other two')

  // dave was rung too and joins late: everyone renegotiates to add him.
  await dave.mqtt.request('call.join', { callId })
  await dave.offer(callId)
  await waitCallEvent(alice.mqtt, callId, 'joined')
  for (const other of three) {
    await dave.sendUntil('audio', `dave>${other.id}`, () => other.got('audio', `dave>${other.id}`, dave.id), `dave's audio at ${other.id}`)
    await other.sendUntil('audio', `${other.id}>dave`, () => dave.got('audio', `${other.id}>dave`, other.id), `${other.id}'s audio at dave`)
  }
  t.pass('a late joiner hears and is heard by everyone')

  // bob leaves: the others' copies of bob's track are removed by renegotiation.
  const bobOffers = (d: CallDevice): number => d.mqtt.of('call.signal').filter((s) => s.signal.type === 'offer').length
  const before = bobOffers(alice)
  await bob.mqtt.request('call.hangup', { callId })
  t.match(await waitCallEvent(carol.mqtt, callId, 'left'), { by: 'bob/phone' })
  await waitFor(() => bobOffers(alice) > before, 'a renegotiation offer to alice after bob left')
  await waitFor(() => alice.received.filter((r) => r.streamId === 'bob/phone').every((r) => r.transceiver.stopped || r.transceiver.currentDirection === 'inactive'), 'bob\'s track gone at alice')
  await carol.sendUntil('audio', 'after-bob', () => alice.got('audio', 'after-bob', carol.id), 'the call goes on without bob')

  for (const d of [alice, carol, dave]) await d.mqtt.request('call.hangup', { callId })
  t.match(await waitCallEvent(bob.mqtt, callId, 'ended'), { by: 'dave/phone' })
  const record = await waitCallRecord(bob.mqtt, callId)
  t.match(record, { conv, kind: 'call', body: { callId, mode: 'sfu', reason: 'hangup' } })
  t.same([...new Set(record.body.participants.map((p: any) => p.device))].sort(), ['alice/phone', 'bob/phone', 'carol/phone', 'dave/phone'])
  t.ok(record.body.quality.tracks.length >= 4, 'quality of every participant\'s track')
  t.equal(server.calls.calls().length, 0)
})
