import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { CallDevice } from '../helpers/call-device.js'
import { callErrors, callEvents, refused, waitCallEvent, waitCallRecord, redisCallNode } from '../helpers/call-server.js'
import { Daemon } from '../helpers/daemon.js'
import { PASSWORD, RawDevice } from '../helpers/im-server.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

const USERS = ['alice', 'bob', 'cat']

t.test('calls across two nodes on one Redis', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const a = await redisCallNode(t, redis, 47100)
  const b = await redisCallNode(t, redis, 47300)
  for (const user of USERS) await a.server.users.add(user, PASSWORD)

  t.test('a caller on node a and a callee on node b ring, accept, exchange RTP through a\'s relay and hang up from b with a record', async (t) => {
    const alice = await CallDevice.connect(t, a.port, 'alice', 'phone')
    const bob = await CallDevice.connect(t, b.port, 'bob', 'laptop')
    const { callId } = await alice.mqtt.request('call.invite', { to: 'bob', media: { audio: true, video: true } })
    t.ok(a.server.calls.call(callId) !== undefined && b.server.calls.call(callId) === undefined, 'node a, where the invite came, runs the call')
    await alice.offer(callId)
    await waitCallEvent(bob.mqtt, callId, 'ring')
    const accepted = await bob.mqtt.request('call.accept', { callId })
    t.match(accepted, { callId, mode: 'sfu' }, 'node b handed bob\'s accept to node a and returned its answer')
    await bob.offer(callId)
    await waitCallEvent(alice.mqtt, callId, 'accepted')

    await alice.sendUntil('audio', 'alice-audio', () => bob.got('audio', 'alice-audio', 'alice/phone'), 'alice\'s audio at bob')
    await bob.sendUntil('video', 'bob-video', () => alice.got('video', 'bob-video', 'bob/laptop'), 'bob\'s video at alice')
    t.pass('each side received the other\'s media through node a\'s relay')
    t.notOk(b.server.calls.mediaStarted, 'node b opened no media relay')

    // A stranger on node b cannot act on the call: node a refuses, node b passes the refusal on.
    const cat = await RawDevice.connect(t, b.port, 'cat', 'phone')
    t.equal(await refused(cat, 'call.hangup', { callId }), 'HAIL_ERR_CALL_NOT_FOUND', 'a non-party\'s hangup is refused')

    await bob.mqtt.request('call.hangup', { callId })
    const ended = await waitCallEvent(alice.mqtt, callId, 'ended')
    t.match(ended, { by: 'bob/laptop', reason: 'hangup' }, 'alice, on node a, hears bob hang up on node b')
    const record = await waitCallRecord(bob.mqtt, callId)
    t.match(record.body, { callId, mode: 'sfu', reason: 'hangup' })
    t.ok(record.body.quality.tracks.some((q: any) => q.source === 'bob/laptop' && q.packets > 0), 'the record counts bob\'s packets, relayed on node a')
    t.equal(a.server.calls.calls().length, 0, 'node a holds no call any more')
  })

  t.test('a bad signal sent through node b is refused by node a on the sender\'s reply topic, and the call goes on', async (t) => {
    const alice = await CallDevice.connect(t, a.port, 'alice', 'tab')
    const bob = await CallDevice.connect(t, b.port, 'bob', 'tab')
    const { callId } = await alice.mqtt.request('call.invite', { to: 'bob', media: { audio: true, video: false } })
    await waitCallEvent(bob.mqtt, callId, 'ring')
    await bob.mqtt.request('call.accept', { callId })
    // Bob's device is in the call, but node b forwards his bad signal to node a, which refuses it.
    await bob.mqtt.client.publishAsync(`im/call/${callId}/signal`, '{"type":"offer","sdp":42}', { qos: 1 })
    await waitFor(() => callErrors(bob.mqtt, callId).length > 0, 'the refusal of the bad signal')
    t.match(callErrors(bob.mqtt, callId)[0], { error: { code: 'HAIL_ERR_SDP' } })
    t.equal(a.server.calls.call(callId)?.state, 'active', 'the call still runs on node a')
    await alice.mqtt.request('call.hangup', { callId })
    await waitCallEvent(bob.mqtt, callId, 'ended')
  })

  t.test('a user in a call node a runs is busy for a caller on node b, and rings again once that call ended', async (t) => {
    const audio = { audio: true, video: false }
    const alice = await RawDevice.connect(t, a.port, 'alice', 'desk')
    const bob = await RawDevice.connect(t, b.port, 'bob', 'desk')
    const cat = await RawDevice.connect(t, b.port, 'cat', 'desk')
    const { callId } = await alice.request('call.invite', { to: 'bob', media: audio })
    await waitCallEvent(bob, callId, 'ring')
    await bob.request('call.accept', { callId })
    t.equal(await refused(cat, 'call.invite', { to: 'bob', media: audio }), 'HAIL_ERR_BUSY', 'node b refuses cat\'s call to bob, who is in a call node a runs')
    t.equal(await refused(cat, 'call.invite', { to: 'alice', media: audio }), 'HAIL_ERR_BUSY', 'and to alice, the caller, on node a')
    t.equal(await refused(bob, 'call.invite', { to: 'cat', media: audio }), 'HAIL_ERR_BUSY', 'bob cannot place a second call from node b')
    t.equal(callEvents(bob).filter((e) => e.event === 'ring' && e.callId !== callId).length, 0, 'bob never rang for cat\'s calls')
    t.equal(b.server.calls.calls().length, 0, 'node b runs no call for the refused invites')

    await alice.request('call.hangup', { callId })
    await waitCallEvent(bob, callId, 'ended')
    const again = await cat.request('call.invite', { to: 'bob', media: audio })
    await waitCallEvent(bob, again.callId, 'ring')
    t.pass('once the call on node a ended, cat\'s call from node b rings bob')
    await cat.request('call.hangup', { callId: again.callId })
    await waitCallEvent(bob, again.callId, 'cancelled')
  })
})

t.test('when the node running a call is killed, another node ends it for everyone with a record', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const b = await redisCallNode(t, redis, 47500)
  for (const user of USERS) await b.server.users.add(user, PASSWORD)
  const dir = await mkdtemp(join(tmpdir(), 'hail-redis-calls-daemon-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const { daemon, addresses } = await Daemon.start([
    '--data', dir, '--host', '127.0.0.1', '--mqtt-port', '0', '--http-port', '0', '--redis', redis.url,
    '--media-port-min', '47700', '--media-port-max', '47899', '--media-listen', '127.0.0.1', '--media-announce', '127.0.0.1'
  ])
  t.teardown(async () => { await daemon.kill9() })

  const alice = await CallDevice.connect(t, addresses.mqtt!.port, 'alice', 'phone')
  const bob = await CallDevice.connect(t, b.port, 'bob', 'laptop')
  const { callId } = await alice.mqtt.request('call.invite', { to: 'bob', media: { audio: true, video: false } })
  await waitCallEvent(bob.mqtt, callId, 'ring')
  await bob.mqtt.request('call.accept', { callId })
  await bob.offer(callId)
  await alice.offer(callId)
  await alice.sendUntil('audio', 'alice-audio', () => bob.got('audio', 'alice-audio', 'alice/phone'), 'alice\'s audio at bob, relayed by the daemon')
  const cat = await RawDevice.connect(t, b.port, 'cat', 'phone')
  t.equal(await refused(cat, 'call.invite', { to: 'bob', media: { audio: true, video: false } }), 'HAIL_ERR_BUSY', 'bob is busy for cat on node b while the daemon runs his call')

  await daemon.kill9()
  // The daemon's lease lapses (15 s) and node b's next round (5 s) finds it.
  const ended = await waitCallEvent(bob.mqtt, callId, 'ended', 60_000)
  t.match(ended, { reason: 'node-lost' }, 'bob, on the surviving node, hears the call ended because its node was lost')
  const record = await waitCallRecord(bob.mqtt, callId, 30_000)
  t.match(record.body, { callId, reason: 'node-lost', from: 'alice/phone' }, 'the call record is appended')
  t.ok(record.body.participants.some((p: any) => p.device === 'bob/laptop' && p.leftAt !== null), 'bob\'s stay in the call is closed in the record')
  // Node b forgot the lost call: a late hangup is answered at once, not forwarded to the dead node.
  t.equal(await refused(bob.mqtt, 'call.hangup', { callId }), 'HAIL_ERR_CALL_NOT_FOUND', 'the lost call is gone for node b too')
  const again = await cat.request('call.invite', { to: 'bob', media: { audio: true, video: false } })
  await waitCallEvent(bob.mqtt, again.callId, 'ring')
  t.pass('bob is not busy for ever: cat\'s call rings him once the dead node\'s call is gone')
})
