import t from 'tap'
import { CallDevice } from '../helpers/call-device.js'
import { waitCallEvent, waitCallRecord, redisCallNode } from '../helpers/call-server.js'
import { PASSWORD } from '../helpers/im-server.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

// Group and p2p calls whose parties sit on different nodes of one Redis: the
// call runs on the node that took the invite, the other node forwards its
// devices' commands and signals there (redis-calls.test.ts covers 1:1 sfu).

const audio = { audio: true, video: false }

t.test('calls whose parties are on two nodes', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const a = await redisCallNode(t, redis, 43000)
  const b = await redisCallNode(t, redis, 43200)
  for (const user of ['alice', 'bob', 'cat', 'dan']) await a.server.users.add(user, PASSWORD)

  t.test('p2p between a device on node a and one on node b: SDP relayed across nodes, direct media, no relay on either node', async (t) => {
    const alice = await CallDevice.connect(t, a.port, 'alice', 'laptop', audio)
    const dan = await CallDevice.connect(t, b.port, 'dan', 'laptop', audio)
    const { callId, mode } = await alice.mqtt.request('call.invite', { to: 'dan', media: audio, mode: 'p2p' })
    t.equal(mode, 'p2p')
    await waitCallEvent(dan.mqtt, callId, 'ring')
    await dan.mqtt.request('call.accept', { callId })
    await waitCallEvent(alice.mqtt, callId, 'accepted')
    await alice.offer(callId)
    await waitFor(() => alice.mqtt.of('call.signal').some((s) => s.signal.type === 'answer'), 'dan\'s answer at alice, through both nodes')
    t.match(dan.mqtt.of('call.signal')[0], { callId, from: 'alice/laptop', signal: { type: 'offer' } })
    await alice.sendUntil('audio', 'hi-dan', () => dan.got('audio', 'hi-dan'), 'alice\'s audio at dan')
    await dan.sendUntil('audio', 'hi-alice', () => alice.got('audio', 'hi-alice'), 'dan\'s audio at alice')
    t.equal(alice.pc.connectionState, 'connected')
    // (first in this file: no call before it made a relay on either node)
    t.notOk(a.server.calls.mediaStarted, 'node a made no media relay')
    t.notOk(b.server.calls.mediaStarted, 'node b made no media relay')

    await dan.mqtt.request('call.hangup', { callId })
    const record = await waitCallRecord(alice.mqtt, callId)
    t.match(record.body, { mode: 'p2p', reason: 'hangup', quality: null })
  })

  t.test('a group call placed on node a: members on node b accept and join late, everyone hears everyone, a leaver is dropped', async (t) => {
    const alice = await CallDevice.connect(t, a.port, 'alice', 'phone', audio)
    const bob = await CallDevice.connect(t, b.port, 'bob', 'phone', audio)
    const cat = await CallDevice.connect(t, b.port, 'cat', 'phone', audio)
    const { conv } = await alice.mqtt.request('group.create', { name: 'split', members: ['bob', 'cat'] })
    const { callId } = await alice.mqtt.request('call.invite', { conv, media: audio })
    t.ok(a.server.calls.call(callId) !== undefined, 'node a runs the call')
    await alice.offer(callId)
    await waitCallEvent(bob.mqtt, callId, 'ring')
    await waitCallEvent(cat.mqtt, callId, 'ring')
    t.pass('both members on node b ring')

    await bob.mqtt.request('call.accept', { callId })
    await bob.offer(callId)
    await alice.sendUntil('audio', 'alice>bob', () => bob.got('audio', 'alice>bob', alice.id), 'alice\'s audio at bob')
    await bob.sendUntil('audio', 'bob>alice', () => alice.got('audio', 'bob>alice', bob.id), 'bob\'s audio at alice')

    // cat joins the running call late, from node b: everyone renegotiates through node a.
    await cat.mqtt.request('call.join', { callId })
    await cat.offer(callId)
    await waitCallEvent(alice.mqtt, callId, 'joined')
    for (const [from, to] of [[cat, alice], [cat, bob], [alice, cat], [bob, cat]] as const) {
      await from.sendUntil('audio', `${from.id}>${to.id}`, () => to.got('audio', `${from.id}>${to.id}`, from.id), `${from.id}'s audio at ${to.id}`)
    }
    t.pass('the late joiner on node b hears and is heard by both')
    t.notOk(b.server.calls.mediaStarted, 'node b opened no media relay')

    await bob.mqtt.request('call.hangup', { callId })
    t.match(await waitCallEvent(alice.mqtt, callId, 'left'), { by: 'bob/phone' }, 'alice on node a hears bob on node b leave')
    await cat.sendUntil('audio', 'after-bob', () => alice.got('audio', 'after-bob', cat.id), 'the call goes on without bob')

    await alice.mqtt.request('call.hangup', { callId })
    await cat.mqtt.request('call.hangup', { callId })
    const record = await waitCallRecord(bob.mqtt, callId)
    t.match(record, { conv, kind: 'call', body: { callId, mode: 'sfu' } })
    t.same([...new Set(record.body.participants.map((p: any) => p.device))].sort(), ['alice/phone', 'bob/phone', 'cat/phone'], 'the record, read on node b, names all three')
    await waitFor(() => a.server.calls.calls().length === 0, 'node a forgets the call')
  })
})
