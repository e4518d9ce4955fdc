import t from 'tap'
import mqtt from 'mqtt'
import { imServer, PASSWORD, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

/** SUBACK codes; mqtt.js rejects when any is 0x80, so read them from the packet. */
async function suback (device: RawDevice, filters: string[]): Promise<number[]> {
  try {
    return (await device.client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])))).map((g) => g.qos)
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted
    if (granted === undefined) throw err
    return granted
  }
}

t.test('subscriptions to what is not yours are refused with 0x80', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob', 'carol'])
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { conv } = await bob.request('group.create', { name: 'private', members: ['carol'] })
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const filters = ['#', 'im/#', '$SYS/#', 'im/inbox/bob/#', 'im/inbox/+/#', 'im/reply/bob/phone', 'im/reply/alice/laptop', `im/inbox/alice/${conv}`, `im/conv/${conv}`, 'im/send/+', 'im/inbox/alice/d:bob:carol']
  const codes = await suback(alice, filters)
  t.same(Object.fromEntries(filters.map((f, i) => [f, codes[i]])), Object.fromEntries(filters.map((f) => [f, 128])),
    'every one refused, her own inbox\'s slot for a conversation she is not in too (docs/protocol.md)')
  const own = ['im/inbox/alice', 'im/inbox/alice/#', 'im/inbox/alice/+', 'im/inbox/alice/d:alice:bob']
  t.same(await suback(alice, own), [1, 1, 1, 1], 'her inbox, all of it, and a direct conversation naming her (even before its first message)')
  await bob.request('conv.add', { conv, users: ['alice'] })
  t.same(await suback(alice, [`im/inbox/alice/${conv}`]), [1], 'once a member, that conversation\'s slot is granted')
})

t.test('a non-member receives nothing of a group, whatever she subscribed', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob', 'carol'])
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { conv } = await bob.request('group.create', { name: 'private', members: ['carol'] })
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  await bob.send(conv, { text: 'secret' })
  await alice.request('conversations') // a round trip: anything routed to alice has arrived by now
  t.same(alice.messages(), [], 'alice received nothing of the group')
})

t.test('publishing where one may not changes nothing and says why', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob', 'carol', 'eve'])
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { conv } = await bob.request('group.create', { name: 'g', members: ['carol'] })
  const { conv: channel } = await bob.request('channel.create', { name: 'c' })
  const eve = await RawDevice.connect(t, port, 'eve', 'phone')
  await eve.request('channel.follow', { conv: channel })

  t.equal((await eve.send(conv, { text: 'let me in' })).error.code, 'HAIL_ERR_NOT_MEMBER', 'into a group one is not in')
  t.equal((await eve.send('d:alice:bob', { text: 'hi' })).error.code, 'HAIL_ERR_NOT_MEMBER', "into another pair's direct conversation")
  t.equal((await eve.send(channel, { text: 'spam' })).error.code, 'HAIL_ERR_FORBIDDEN', 'into a channel as a follower')
  const forged = await eve.client.publishAsync(`im/send/${channel}`, JSON.stringify({ cid: 'forged', kind: 'text', body: { text: 'x' }, from: 'bob' }), { qos: 1 })
  t.ok(forged, 'the forged publish is acknowledged (MQTT 3.1.1 cannot refuse it)')
  await waitFor(() => eve.of('error').some((e) => e.ref === 'forged'), 'the error reply')
  t.equal(eve.of('error').find((e) => e.ref === 'forged').error.code, 'HAIL_ERR_BAD_REQUEST', 'a payload claiming "from" is refused')
  const history = await bob.request('sync', { conv, after: 0 })
  t.same(history.messages.map((m: any) => m.kind), ['conv.created'], 'the group log holds nothing eve sent')
  t.equal((await bob.request('sync', { conv: channel, after: 0 })).lastSeq, 1, 'the channel log holds only its creation')

  await t.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bob/phone2', username: 'eve', password: PASSWORD, reconnectPeriod: 0 }),
    /Not authorized/i, "eve cannot connect with bob's client id")
})

t.test('a removed member stops receiving, including what was queued for an offline device', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob', 'carol'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const { conv } = await alice.request('group.create', { name: 'g', members: ['bob', 'carol'] })
  const carol = await RawDevice.connect(t, port, 'carol', 'phone')
  await carol.client.subscribeAsync('im/presence/alice', { qos: 1 })
  await waitFor(() => carol.of('presence').some((p) => p.user === 'alice'), "carol sees alice's presence while they share a group")
  await carol.end()
  await alice.send(conv, { text: 'queued while carol was a member' })
  await alice.request('conv.remove', { conv, users: ['carol'] })
  await alice.send(conv, { text: 'after carol left' })

  const back = await RawDevice.connect(t, port, 'carol', 'phone', { subscribe: false })
  await waitFor(() => back.of('conversation').some((e) => e.event === 'removed'), 'the removal notice')
  await back.client.subscribeAsync('im/presence/alice', { qos: 1 })
  await back.request('conversations')
  t.same(back.messages(conv), [], 'no message of the group reaches carol, queued or new')
  t.same(back.of('presence'), [], "alice's retained presence is no longer delivered to carol")
  await t.rejects(back.request('sync', { conv, after: 0 }), { code: 'HAIL_ERR_NOT_MEMBER' }, 'and she cannot sync it')
})
