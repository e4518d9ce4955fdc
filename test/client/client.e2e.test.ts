import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from '../../index.js'
import { type HailServer } from '../../broker/index.js'
import { HailClient, HailClientError, MemoryCursorStore, type Envelope, type HailClientOptions } from '../../client/index.js'
import { waitFor } from '../helpers/wait-for.js'

const PASSWORD = 'correct horse battery staple'

interface Running { server: HailServer, mqtt: string, ws: string }

/** Clients of the running test, closed before its server so they do not watch it go away. */
const clients = new Set<HailClient>()

/** A real server on loopback with these users, its clients closed before it. */
async function start (t: Test, users: string[]): Promise<Running> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-client-e2e-'))
  const server = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0 })
  const addresses = await server.listen()
  t.teardown(async () => {
    await Promise.all([...clients].map(async (c) => await c.close()))
    clients.clear()
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  for (const user of users) await server.users.add(user, PASSWORD)
  return { server, mqtt: `mqtt://127.0.0.1:${addresses.mqtt!.port}`, ws: `ws://127.0.0.1:${addresses.http!.port}/mqtt` }
}

/** A device through the SDK that records every message it is shown, as the app would. */
class Device {
  readonly shown: Envelope[] = []
  readonly client: HailClient

  constructor (t: Test, url: string, user: string, device: string, options: Partial<HailClientOptions> = {}) {
    // A warning means the SDK papered over something (a hole in a sync, a refused feed): none is expected here.
    const logger: HailClientOptions['logger'] = (level, message, context) => {
      if (level === 'warn' || level === 'error') t.fail(`${user}/${device} logged ${level}: ${message} ${JSON.stringify(context)}`)
    }
    this.client = new HailClient({ url, user, device, password: PASSWORD, reconnectPeriod: 100, logger, ...options })
    this.client.on('message', (m) => this.shown.push(m))
    this.client.on('error', (err) => t.fail(`${user}/${device}: ${err.code} ${err.message}`))
    clients.add(this.client)
  }

  static async connect (t: Test, url: string, user: string, device: string, options: Partial<HailClientOptions> = {}): Promise<Device> {
    const d = new Device(t, url, user, device, options)
    const synced = new Promise<void>((resolve) => d.client.once('synced', resolve))
    await d.client.connect()
    await synced
    return d
  }

  seqs (conv: string): number[] {
    return this.shown.filter((m) => m.conv === conv).map((m) => m.seq)
  }

  texts (conv: string): string[] {
    return this.shown.filter((m) => m.conv === conv && m.kind === 'text').map((m) => (m.body as { text: string }).text)
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Every device has seen `conv` up to `lastSeq`, each seq once, in order. */
async function allSee (t: Test, devices: Device[], conv: string, lastSeq: number): Promise<void> {
  for (const d of devices) {
    const name = `${d.client.user}/${d.client.device}`
    await waitFor(() => d.client.cursor(conv) >= lastSeq, `${name} reaching ${conv} seq ${lastSeq}`, 15_000)
    t.same(d.seqs(conv), range(1, lastSeq), `${name} saw ${conv} 1..${lastSeq} once, in order`)
  }
}

t.test('two users with two devices each: every device sees every direct and group message once, in seq order', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alicePhone = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const aliceLaptop = await Device.connect(t, s.ws, 'alice', 'laptop')   // MQTT over WebSocket, as a browser
  const bobPhone = await Device.connect(t, s.mqtt, 'bob', 'phone')
  const bobLaptop = await Device.connect(t, s.ws, 'bob', 'laptop')
  const devices = [alicePhone, aliceLaptop, bobPhone, bobLaptop]

  const dm = await alicePhone.client.openDirect('bob')
  t.equal(dm, 'd:alice:bob')
  const senders = [alicePhone, bobPhone, aliceLaptop, bobLaptop]
  const sent = await Promise.all(range(1, 20).map(async (i) => await senders[i % 4]!.client.text(dm, `dm ${i}`)))
  t.same(sent.map((r) => r.seq).sort((a, b) => a - b), range(1, 20), 'twenty sends, twenty seqs')
  await allSee(t, devices, dm, 20)
  t.same(new Set(bobPhone.texts(dm)), new Set(range(1, 20).map((i) => `dm ${i}`)), 'every text arrived')

  const group = await alicePhone.client.createGroup('team', ['bob'])
  for (let i = 1; i <= 10; i++) await senders[i % 4]!.client.text(group, `group ${i}`)
  const [info] = (await bobPhone.client.conversations()).filter((c) => c.conv === group)
  t.ok(info !== undefined && info.lastSeq >= 10, 'bob is in the group')
  await allSee(t, devices, group, info!.lastSeq)
  t.same(aliceLaptop.texts(group), range(1, 10).map((i) => `group ${i}`), 'group texts in the order they were sent one after another')
})

t.test('a device offline during sends gets them on reconnect, and nothing it had already shown', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const store = new MemoryCursorStore()   // the app's persisted cursors, kept across the restart
  const first = await Device.connect(t, s.mqtt, 'bob', 'laptop', { store })
  const dm = await alice.client.openDirect('bob')
  await alice.client.text(dm, 'before')
  await allSee(t, [first], dm, 1)
  await first.client.close()

  for (let i = 1; i <= 5; i++) await alice.client.text(dm, `while offline ${i}`)
  const again = await Device.connect(t, s.mqtt, 'bob', 'laptop', { store })
  await waitFor(() => again.client.cursor(dm) >= 6, 'the missed messages')
  await new Promise((resolve) => setTimeout(resolve, 200)) // room for a stray redelivery to show up
  t.same(again.seqs(dm), [2, 3, 4, 5, 6], 'the five missed, once, in order; not the one shown before')
  t.same(again.texts(dm), range(1, 5).map((i) => `while offline ${i}`))
})

t.test('a new device syncs the whole visible history of every conversation', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const dm = await alice.client.openDirect('bob')
  for (let i = 1; i <= 150; i++) await alice.client.text(dm, `history ${i}`) // more than one sync page
  const group = await alice.client.createGroup('g', ['bob'])
  await alice.client.text(group, 'in the group')

  const tablet = await Device.connect(t, s.ws, 'bob', 'tablet')
  t.same(tablet.seqs(dm), range(1, 150), 'all 150, once, in order, by the catch-up after connecting')
  t.equal(tablet.texts(dm)[149], 'history 150')
  t.ok(tablet.texts(group).includes('in the group'), 'and the group')
  await tablet.client.text(dm, 'hello from the tablet')
  await allSee(t, [tablet, alice], dm, 151)
})

t.test('a recall: a new device is shown the tombstone, and an edit of it rejects with HAIL_ERR_GONE', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const dm = await alice.client.openDirect('bob')
  const sent = await alice.client.text(dm, 'recall me')
  await alice.client.send(dm, { kind: 'delete', body: { ref: sent.seq } })
  const err = await alice.client.send(dm, { kind: 'edit', body: { ref: sent.seq, text: 'too late' } }).catch((e: unknown) => e)
  t.type(err, HailClientError)
  t.match(err, { code: 'HAIL_ERR_GONE' }, 'the SDK rejects with the server\'s code')
  const tablet = await Device.connect(t, s.ws, 'bob', 'tablet')
  t.same(tablet.seqs(dm), [1, 2])
  t.match(tablet.shown[0], { seq: 1, kind: 'text', from: 'alice', body: null, deleted: { by: 'alice', seq: 2 } }, 'the tombstone, typed as Envelope.deleted')
})

t.test('a resend with the same cid returns the same seq and is shown once', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const bob = await Device.connect(t, s.mqtt, 'bob', 'phone')
  const dm = await alice.client.openDirect('bob')
  const first = await alice.client.text(dm, 'once', { cid: 'resend-me' })
  const again = await alice.client.text(dm, 'once', { cid: 'resend-me' })
  t.same([first.seq, first.duplicate], [1, false])
  t.same([again.seq, again.id, again.duplicate], [1, first.id, true], 'the stored seq, marked duplicate')
  await alice.client.text(dm, 'next')
  await allSee(t, [alice, bob], dm, 2)
  t.same(bob.texts(dm), ['once', 'next'])
})

t.test('a connection dropped in the middle of sending: each send resolves once and nothing is stored twice', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const bob = await Device.connect(t, s.mqtt, 'bob', 'phone')
  const dm = await alice.client.openDirect('bob')
  let drops = 0
  alice.client.on('disconnect', () => drops++)
  const sends = range(1, 30).map(async (i) => await alice.client.text(dm, `burst ${i}`))
  // Cut alice's TCP connection under the burst, from the server's side.
  const aedesClients = (s.server.aedes as unknown as { clients: Record<string, { conn: { destroy: () => void } }> }).clients
  aedesClients['alice/phone']!.conn.destroy()
  const results = await Promise.all(sends)
  t.equal(drops, 1, 'the connection did drop')
  t.same(results.map((r) => r.seq).sort((a, b) => a - b), range(1, 30), 'thirty sends, thirty distinct seqs: none stored twice')
  await allSee(t, [alice, bob], dm, 30)
  t.same(new Set(bob.texts(dm)).size, 30)
})

t.test('a channel: followers get the live feed and the history, once', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const bob = await Device.connect(t, s.mqtt, 'bob', 'phone')
  const channel = await alice.client.createChannel('news')
  await alice.client.text(channel, 'before bob followed')
  await bob.client.follow(channel)
  await alice.client.text(channel, 'after')
  const [info] = (await bob.client.conversations()).filter((c) => c.conv === channel)
  await allSee(t, [alice, bob], channel, info!.lastSeq)
  t.same(bob.texts(channel), ['before bob followed', 'after'])
})

t.test('a read receipt reaches the sender\'s devices', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const bob = await Device.connect(t, s.mqtt, 'bob', 'phone')
  const receipts: Array<{ user: string, read: number, delivered: number }> = []
  alice.client.on('receipt', (r) => receipts.push(r))
  const dm = await alice.client.openDirect('bob')
  const { seq } = await alice.client.text(dm, 'read me')
  await allSee(t, [bob], dm, seq)
  t.equal(await bob.client.markRead(dm, seq), seq)
  await waitFor(() => receipts.some((r) => r.user === 'bob' && r.read >= seq), 'bob\'s read receipt', 10_000)
  t.ok(receipts.some((r) => r.user === 'bob' && r.delivered >= seq), 'read implies delivered')
})

t.test('a typing indicator reaches the other user', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const bob = await Device.connect(t, s.mqtt, 'bob', 'phone')
  const typing: Array<{ from: string, typing: boolean }> = []
  alice.client.on('typing', (e) => typing.push(e))
  const dm = await alice.client.openDirect('bob')
  bob.client.typing(dm)
  await waitFor(() => typing.length > 0, 'bob typing', 10_000)
  t.match(typing, [{ conv: dm, from: 'bob', device: 'phone', typing: true }])
})

t.test('presence: watched contacts are reported online, then away', async (t) => {
  const s = await start(t, ['alice', 'bob'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const bob = await Device.connect(t, s.mqtt, 'bob', 'phone')
  const presence: string[] = []
  alice.client.on('presence', (p) => { if (p.user === 'bob') presence.push(p.status) })
  await alice.client.openDirect('bob')
  t.same(await alice.client.watchPresence(['bob']), { refused: [] })
  await waitFor(() => presence.includes('online'), 'bob online', 10_000)
  await bob.client.setPresence('away')
  await waitFor(() => presence.includes('away'), 'bob away', 10_000)
})

t.test('refusals reject with the server\'s code', async (t) => {
  const s = await start(t, ['alice', 'bob', 'carol'])
  const alice = await Device.connect(t, s.mqtt, 'alice', 'phone')
  const carol = await Device.connect(t, s.mqtt, 'carol', 'phone')
  const group = await alice.client.createGroup('private', ['bob'])
  await t.rejects(carol.client.text(group, 'let me in'), { code: 'HAIL_ERR_NOT_MEMBER' })
  await t.rejects(carol.client.request('sync', { conv: group, after: 0 }), { code: 'HAIL_ERR_NOT_MEMBER' })
  await t.rejects(HailClient.connect({ url: s.mqtt, user: 'carol', device: 'x', password: 'wrong', reconnectPeriod: 0 }), { code: 'HAIL_ERR_NOT_AUTHORIZED' })
})
