import t from 'tap'
import net from 'node:net'
import mqtt from 'mqtt'
import { imServer, PASSWORD, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

t.test('delivered comes when a recipient device acknowledged, read when the recipient marks it', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bobPhone = await RawDevice.connect(t, port, 'bob', 'phone')
  await bobPhone.end() // a persistent session, offline
  const conv = 'd:alice:bob'
  await alice.send(conv, { text: 'are you there?' })
  await alice.request('conversations') // a round trip after the send
  t.same(alice.of('receipt'), [], 'no delivered receipt while no device of bob has the message')

  const back = await RawDevice.connect(t, port, 'bob', 'phone', { subscribe: false })
  const bobLaptop = await RawDevice.connect(t, port, 'bob', 'laptop')
  await waitFor(() => back.messages(conv).length === 1, 'bob gets the queued message')
  await waitFor(() => alice.of('receipt').some((r) => r.user === 'bob' && r.delivered === 1), 'delivered receipt')
  t.same(alice.of('receipt').at(-1), { v: 2, type: 'receipt', conv, user: 'bob', delivered: 1, read: 0 }, 'delivered once bob/phone acknowledged')

  await back.request('read', { conv, seq: 1 })
  await waitFor(() => alice.of('receipt').some((r) => r.read === 1), 'read receipt')
  t.same(alice.of('receipt').at(-1), { v: 2, type: 'receipt', conv, user: 'bob', delivered: 1, read: 1 })
  await waitFor(() => bobLaptop.of('receipt').some((r) => r.user === 'bob' && r.read === 1), "bob's other device learns it was read")
  t.pass("bob's laptop learns the conversation was read on his phone")
  await t.rejects(back.request('read', { conv, seq: 5 }), { code: 'HAIL_ERR_BAD_REQUEST' }, 'a read mark beyond the last message is refused')

  // A device that connects later learns where everyone is from conv.members.
  const { members } = await alice.request('conv.members', { conv })
  t.same(members.sort((a: { user: string }, b: { user: string }) => a.user.localeCompare(b.user)),
    [{ user: 'alice', role: 'member', read: 0, delivered: 0 }, { user: 'bob', role: 'member', read: 1, delivered: 1 }], 'each member with their receipts')
})

t.test('presence: online while any device is, offline with last seen after the last leaves, hidden from strangers', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob', 'dave'], { im: { presenceDebounceMs: 300 } } as never)
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  await alice.request('direct.open', { user: 'bob' })
  await alice.client.subscribeAsync('im/presence/bob', { qos: 1 })
  const dave = await RawDevice.connect(t, port, 'dave', 'phone')
  await dave.client.subscribeAsync('im/presence/+', { qos: 1 })

  const phone = await RawDevice.connect(t, port, 'bob', 'phone')
  await waitFor(() => alice.of('presence').some((p) => p.status === 'online'), 'bob online')
  const laptop = await RawDevice.connect(t, port, 'bob', 'laptop')
  await phone.end()
  await laptop.request('presence.set', { status: 'busy' })
  await waitFor(() => alice.of('presence').some((p) => p.status === 'busy'), 'bob busy')
  const before = Date.now()
  await laptop.end()
  await waitFor(() => alice.of('presence').some((p) => p.status === 'offline'), 'bob offline')
  const statuses = alice.of('presence').map((p) => p.status)
  t.same(statuses, ['online', 'busy', 'offline'], 'one phone leaving while the laptop stays does not make bob offline')
  t.ok(alice.of('presence').at(-1).lastSeen >= before - 1000, 'offline carries when bob was last seen')
  t.same(dave.of('presence').filter((p) => p.user === 'bob'), [], 'a stranger never sees bob')
})

t.test('a device whose network vanishes goes offline after its keep-alive expires', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob'], { im: { presenceDebounceMs: 100 } } as never)
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  await alice.request('direct.open', { user: 'bob' })
  await alice.client.subscribeAsync('im/presence/bob', { qos: 1 })

  // A loopback relay that can go silent without closing: the network vanishing.
  let frozen = false
  const sockets: net.Socket[] = []
  const relay = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1')
    sockets.push(inbound, outbound)
    inbound.on('data', (d) => { if (!frozen) outbound.write(d) })
    outbound.on('data', (d) => { if (!frozen) inbound.write(d) })
    inbound.on('error', () => {}); outbound.on('error', () => {})
  })
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); relay.close() })
  const relayPort = (relay.address() as net.AddressInfo).port
  const bob = await mqtt.connectAsync(`mqtt://127.0.0.1:${relayPort}`, { clientId: 'bob/phone', username: 'bob', password: PASSWORD, keepalive: 1, reconnectPeriod: 0 })
  t.teardown(() => { bob.end(true) })
  await waitFor(() => alice.of('presence').some((p) => p.status === 'online'), 'bob online')
  frozen = true
  await waitFor(() => alice.of('presence').some((p) => p.status === 'offline'), 'bob offline after keep-alive expiry', 15_000)
  t.pass('the server noticed the silent device and announced bob offline')
})

t.test('typing reaches the other members once, live only, and never the log', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob', 'eve'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const aliceLaptop = await RawDevice.connect(t, port, 'alice', 'laptop')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const eve = await RawDevice.connect(t, port, 'eve', 'phone')
  const { conv } = await alice.request('direct.open', { user: 'bob' })
  await alice.client.publishAsync(`im/typing/${conv}`, JSON.stringify({ typing: true }), { qos: 0 })
  await eve.client.publishAsync(`im/typing/${conv}`, JSON.stringify({ typing: true }), { qos: 0 })
  await waitFor(() => bob.of('typing').length >= 1, 'the typing indicator')
  await bob.request('conversations') // a round trip: eve's indicator, had it been relayed, is here too
  t.same(bob.of('typing'), [{ v: 2, type: 'typing', conv, from: 'alice', device: 'phone', typing: true }], 'bob sees alice typing, and nothing from a stranger')
  t.same(aliceLaptop.of('typing'), [], "alice's own devices are not told she is typing")
  t.equal((await bob.request('sync', { conv, after: 0 })).messages.length, 0, 'typing is never stored')
})

t.test('retention keeps the newest messages and sync says where history starts', async (t) => {
  const { port, server } = await imServer(t, ['alice', 'bob'], { im: { retentionMaxCount: 3 } } as never)
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const conv = 'd:alice:bob'
  for (let i = 1; i <= 5; i++) await alice.send(conv, { text: `m${i}` })
  t.equal(await server.im.retention.pass(), 2, 'a pass removes the two oldest')
  const page = await alice.request('sync', { conv, after: 0 })
  t.same(page.messages.map((m: any) => m.body.text), ['m3', 'm4', 'm5'])
  t.equal(page.firstSeq, 3, 'firstSeq tells the device history before seq 3 is gone')
  t.equal((await alice.send(conv, { text: 'm6' })).seq, 6, 'and seqs go on, never reused')
})
