import t from 'tap'
import { imServer, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

const seqs = (messages: Array<{ seq: number }>): number[] => messages.map((m) => m.seq)
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

t.test('two users with two devices each: every device gets every direct message once, in seq order', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob'])
  const alicePhone = await RawDevice.connect(t, port, 'alice', 'phone')
  const aliceLaptop = await RawDevice.connect(t, port, 'alice', 'laptop')
  const bobPhone = await RawDevice.connect(t, port, 'bob', 'phone')
  // bob's laptop has a persistent session but is offline while the messages are sent.
  const bobLaptop = await RawDevice.connect(t, port, 'bob', 'laptop')
  await bobLaptop.end()

  const { conv } = await alicePhone.request('direct.open', { user: 'bob' })
  t.equal(conv, 'd:alice:bob', 'the direct conversation id lists both users, sorted')
  for (let i = 1; i <= 20; i++) {
    const sender = i % 2 === 0 ? bobPhone : alicePhone
    const sent = await sender.send(conv, { text: `message ${i}` })
    t.equal(sent.type, 'sent')
    t.equal(sent.seq, i, `message ${i} gets seq ${i}`)
  }
  for (const device of [alicePhone, aliceLaptop, bobPhone]) {
    await waitFor(() => device.messages(conv).length >= 20, `20 messages on ${device.user}/${device.device}`).catch(() => {})
    t.same(seqs(device.messages(conv)), range(1, 20), `${device.user}/${device.device} sees 1..20 once, in order`)
  }
  t.same(alicePhone.messages(conv).map((m) => m.from), range(1, 20).map((i) => i % 2 === 0 ? 'bob' : 'alice'), 'from is the authenticated sender')

  const back = await RawDevice.connect(t, port, 'bob', 'laptop', { subscribe: false })
  await waitFor(() => back.messages(conv).length >= 20, 'the offline device gets its queue')
  t.same(seqs(back.messages(conv)), range(1, 20), 'the device that was offline gets 1..20 in order on reconnect')

  const tablet = await RawDevice.connect(t, port, 'bob', 'tablet')
  const { conversations } = await tablet.request('conversations')
  t.same(conversations.map((c: any) => [c.conv, c.lastSeq]), [[conv, 20]], 'a new device learns its conversations')
  const first = await tablet.request('sync', { conv, after: 0, limit: 15 })
  t.same(seqs(first.messages), range(1, 15))
  t.equal(first.more, true, 'a page that is not the last says so')
  const rest = await tablet.request('sync', { conv, after: 15, limit: 15 })
  t.same(seqs(rest.messages), range(16, 20))
  t.equal(rest.more, false)
  t.equal(rest.messages[4].body.text, 'message 20', 'a new device gets the history, paginated')
})

t.test('a resend with the same cid returns the stored seq and is not delivered twice', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const conv = 'd:alice:bob'
  const first = await alice.send(conv, { text: 'once' }, 'same-cid')
  alice.events.length = 0
  const again = await alice.send(conv, { text: 'once' }, 'same-cid')
  t.same([first.seq, first.duplicate], [1, false])
  t.same([again.seq, again.duplicate], [1, true], 'the resend returns seq 1, marked duplicate')
  await alice.send(conv, { text: 'next' })
  await waitFor(() => bob.messages(conv).length >= 2, 'two messages')
  t.same(seqs(bob.messages(conv)), [1, 2], 'the recipient got the message once')
})

t.test('a group message reaches every member and the log stamps system events', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob', 'carol'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const carol = await RawDevice.connect(t, port, 'carol', 'phone')
  const { conv } = await alice.request('group.create', { name: 'trip', members: ['bob', 'carol'] })
  t.match(conv, /^g:[a-z2-7]{12}$/)
  await waitFor(() => bob.of('conversation').some((e) => e.conv === conv && e.event === 'added'), 'bob told he was added')
  await bob.send(conv, { text: 'hello group' })
  for (const device of [alice, bob, carol]) {
    await waitFor(() => device.messages(conv).length >= 2, `messages on ${device.user}`)
    t.same(device.messages(conv).map((m) => [m.seq, m.kind, m.from]), [[1, 'conv.created', '$system'], [2, 'text', 'bob']], `${device.user} sees the creation and the message`)
  }
  const { members } = await carol.request('conv.members', { conv })
  t.same(members.map((m: any) => [m.user, m.role]).sort(), [['alice', 'owner'], ['bob', 'member'], ['carol', 'member']])
})

t.test('a channel: only owners and admins post, followers read the feed and the history', async (t) => {
  const { port } = await imServer(t, ['owner', 'fan'])
  const owner = await RawDevice.connect(t, port, 'owner', 'phone')
  const fan = await RawDevice.connect(t, port, 'fan', 'phone')
  const { conv } = await owner.request('channel.create', { name: 'news' })
  await owner.send(conv, { text: 'before you came' })
  await fan.request('channel.follow', { conv })
  await fan.client.subscribeAsync(`im/conv/${conv}`, { qos: 1 })
  await owner.send(conv, { text: 'breaking' })
  await waitFor(() => fan.messages(conv).length >= 1, 'the live feed')
  t.same(fan.messages(conv).map((m) => m.body.text), ['breaking'], 'the follower gets new posts on the live feed')
  const history = await fan.request('sync', { conv, after: 0 })
  t.same(history.messages.filter((m: any) => m.kind === 'text').map((m: any) => m.body.text), ['before you came', 'breaking'], 'and reads the history by sync')
  const refused = await fan.send(conv, { text: 'me too' })
  t.equal(refused.error.code, 'HAIL_ERR_FORBIDDEN', 'a follower cannot post')
})
