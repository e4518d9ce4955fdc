import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createServer } from '../../index.js'
import { type HailServer } from '../../broker/index.js'
import { HailClient } from '../../client/index.js'
import { PASSWORD, RawDevice } from '../helpers/im-server.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

const USERS = ['ann', 'bob', 'cat', 'dan', 'eve']
const DEBOUNCE = 300

/** Three nodes on one real Redis, each with its own data directory (files stay local), as users run them. */
async function cluster (t: Test): Promise<{ redis: RedisServer, nodes: Array<{ server: HailServer, port: number }> }> {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const nodes: Array<{ server: HailServer, port: number }> = []
  for (let i = 0; i < 3; i++) {
    const dir = await mkdtemp(join(tmpdir(), `hail-cluster-${i}-`))
    const server = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0, redis: redis.url, im: { presenceDebounceMs: DEBOUNCE } } as never)
    const { mqtt } = await server.listen()
    t.teardown(async () => {
      await server.close()
      await rm(dir, { recursive: true, force: true })
    })
    nodes.push({ server, port: mqtt!.port })
  }
  // Users live in Redis, shared by every node: added once, through the first.
  for (const user of USERS) await nodes[0]!.server.users.add(user, PASSWORD)
  return { redis, nodes }
}

/** The messages of `conv` a device got, in arrival order, each checked to come once. */
function seqs (device: RawDevice, conv: string): number[] {
  return device.messages(conv).map((m) => m.seq)
}

/**
 * A raw mqtt.js device subscribing its inbox and replies in ONE SUBSCRIBE:
 * aedes stores it once per topic with the whole list, which once left
 * RedisPersistence without a SUBACK (broker/persistence/redis-persistence.ts).
 */
async function device (t: Test, port: number, user: string, name: string): Promise<RawDevice> {
  const d = await RawDevice.connect(t, port, user, name, { subscribe: false })
  await d.client.subscribeAsync({ [`im/inbox/${user}/#`]: { qos: 1 }, [`im/reply/${user}/${name}`]: { qos: 1 } })
  return d
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** How many messages arrived after one with a higher seq (live fan-out from several nodes may cross; the SDK reorders). */
const overtaken = (list: number[]): number => list.filter((seq, i) => list.slice(0, i).some((s) => s > seq)).length

t.test('three Hail nodes on one Redis', async (t) => {
  const { nodes } = await cluster(t)
  const [a, b, c] = nodes as [{ port: number }, { port: number }, { port: number }]
  let groupConv = ''
  let groupLast = 0

  t.test('users on different nodes chat 1:1: every message arrives once, in order, with gapless seqs', async (t) => {
    const ann = await device(t, a.port, 'ann', 'phone')
    const bob = await device(t, b.port, 'bob', 'phone')
    const conv = 'd:ann:bob'
    for (let i = 1; i <= 25; i++) {
      const sent = await ann.send(conv, { text: `ann ${i}` })
      t.equal(sent.type, 'sent', `message ${i} stored`)
    }
    await waitFor(() => seqs(bob, conv).length >= 25, 'bob got ann\'s 25', 30_000)
    for (let i = 1; i <= 25; i++) await bob.send(conv, { text: `bob ${i}` })
    await waitFor(() => seqs(bob, conv).length >= 50 && seqs(ann, conv).length >= 50, 'both sides got all 50', 30_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    t.same(seqs(bob, conv), range(1, 50), 'bob, on node b, got seqs 1..50 once each, in order')
    t.same([...seqs(ann, conv)].sort((x, y) => x - y), range(1, 50), 'ann, on node a, got them too (her own as echoes), each once')
    t.comment(`ann (raw MQTT): ${overtaken(seqs(ann, conv))} of 50 overtaken on the live path`)
    t.same(bob.messages(conv).slice(0, 3).map((m) => m.body.text), ['ann 1', 'ann 2', 'ann 3'])
  })

  t.test('a group spread over three nodes: members added on one node receive at once on another, a removed one stops', async (t) => {
    const ann = await device(t, a.port, 'ann', 'tab')
    const bob = await device(t, b.port, 'bob', 'tab')
    const cat = await device(t, c.port, 'cat', 'tab')
    const { conv } = await ann.request('group.create', { name: 'trio', members: ['bob', 'cat'] })
    groupConv = conv
    // The very first message: node c must know cat is a member before its fan-out reaches c.
    await ann.send(conv, { text: 'hello' })
    for (let i = 1; i <= 10; i++) {
      await ann.send(conv, { text: `a${i}` })
      await bob.send(conv, { text: `b${i}` })
      await cat.send(conv, { text: `c${i}` })
    }
    const last = 1 + 1 + 30 // conv.created, hello, 30 messages
    for (const d of [ann, bob, cat]) await waitFor(() => seqs(d, conv).length >= last, `${d.user} got every message`, 30_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    for (const d of [ann, bob, cat]) {
      t.same([...seqs(d, conv)].sort((x, y) => x - y), range(1, last), `${d.user} got seqs 1..${last}, each once`)
      t.comment(`${d.user} (raw MQTT): ${overtaken(seqs(d, conv))} of ${last} overtaken on the live path`)
    }
    groupLast = last

    const removed = await ann.request('conv.remove', { conv, users: ['cat'] })
    t.same(removed.removed, ['cat'])
    const before = cat.messages(conv).length
    // bob, on node b, writes after cat was removed on node a; node c must not deliver it to cat.
    await bob.send(conv, { text: 'after cat left' })
    await waitFor(() => ann.messages(conv).some((m) => m.body?.text === 'after cat left'), 'ann got it', 10_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    t.same(cat.messages(conv).slice(before).filter((m) => m.body?.text === 'after cat left'), [], 'cat never got a message sent after the removal')
    await t.rejects(cat.request('sync', { conv, after: 0 }), { code: 'HAIL_ERR_NOT_MEMBER' }, 'nor can cat sync it on node c')
  })

  t.test('a direct conversation started from both ends at once on two nodes is created once', async (t) => {
    const cat = await device(t, a.port, 'cat', 'race')
    const eve = await device(t, b.port, 'eve', 'race')
    const conv = 'd:cat:eve'
    const [x, y] = await Promise.all([cat.send(conv, { text: 'hi eve' }), eve.send(conv, { text: 'hi cat' })])
    t.same([x.type, y.type], ['sent', 'sent'], 'both first messages stored')
    t.same([x.seq, y.seq].sort(), [1, 2], 'one log, seqs 1 and 2')
    await waitFor(() => seqs(cat, conv).length >= 2 && seqs(eve, conv).length >= 2, 'both got both', 10_000)
    for (const d of [cat, eve]) {
      const { members } = await d.request('conv.members', { conv })
      t.same(members.map((m: { user: string }) => m.user).sort(), ['cat', 'eve'], `${d.user}'s node sees two members, once each`)
    }
  })

  t.test('a user with devices on two nodes is online once and offline only when both left', async (t) => {
    const bob = await device(t, b.port, 'bob', 'watch')
    await bob.client.subscribeAsync('im/presence/dan', { qos: 1 })
    await bob.request('direct.open', { user: 'dan' })
    const phone = await device(t, a.port, 'dan', 'phone')
    const laptop = await device(t, c.port, 'dan', 'laptop')
    const dan = (): string[] => bob.of('presence').filter((p) => p.user === 'dan').map((p) => p.status)
    await waitFor(() => dan().includes('online'), 'dan online', 10_000)
    await phone.end()
    await new Promise((resolve) => setTimeout(resolve, DEBOUNCE * 4))
    t.notOk(dan().includes('offline'), 'still online while the laptop is connected')
    await laptop.end()
    await waitFor(() => dan().includes('offline'), 'dan offline', 10_000)
    const online = dan().filter((s) => s === 'online').length
    t.equal(online, 1, 'announced online once')
    t.equal(dan().at(-1), 'offline')
  })

  t.test('receipts cross nodes: delivered when a device on another node acknowledges, read when it says so', async (t) => {
    const ann = await device(t, a.port, 'ann', 'desk')
    const cat = await device(t, c.port, 'cat', 'desk')
    const conv = 'd:ann:cat'
    const sent = await ann.send(conv, { text: 'did you get this?' })
    const receipts = (): any[] => ann.of('receipt').filter((r) => r.conv === conv && r.user === 'cat')
    await waitFor(() => receipts().some((r) => r.delivered >= sent.seq), 'delivered receipt on node a', 10_000)
    await cat.request('read', { conv, seq: sent.seq })
    await waitFor(() => receipts().some((r) => r.read >= sent.seq), 'read receipt on node a', 10_000)
    t.pass(`delivered and read of seq ${sent.seq} reached the sender across nodes`)
  })

  t.test('a new device on a third node syncs the whole history', async (t) => {
    const conv = 'd:ann:bob'
    const fresh = await device(t, c.port, 'bob', 'new-tablet')
    const got: number[] = []
    let after = 0
    for (;;) {
      const page = await fresh.request('sync', { conv, after, limit: 20 })
      for (const m of page.messages) got.push(m.seq)
      if (!page.more || page.messages.length === 0) break
      after = page.messages.at(-1).seq
    }
    t.same(got, range(1, 50), 'every message written through nodes a and b')
  })

  t.test('concurrent senders on three nodes: the SDK on a fourth device shows every message once, in seq order', async (t) => {
    t.ok(groupConv !== '' && groupLast > 0, 'the group test ran')
    const connecting = HailClient.connect({ url: `mqtt://127.0.0.1:${c.port}`, user: 'bob', device: 'app', password: PASSWORD })
    const app = await Promise.race([connecting, new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('HailClient.connect did not finish in 30 s')), 30_000))])
    t.teardown(() => app.close())
    const shown: number[] = []
    app.on('message', (m) => { if (m.conv === groupConv) shown.push(m.seq) })
    await app.sync(groupConv)
    const before = shown.length
    const ann = await device(t, a.port, 'ann', 'burst')
    const bob = await device(t, b.port, 'bob', 'burst')
    // Not awaited one by one: the three nodes fan out at once.
    await Promise.all([ann, bob].flatMap((d) => Array.from({ length: 30 }, async (_, i) => await d.send(groupConv, { text: `${d.user} burst ${i}` }))))
    const total = before + 60
    await waitFor(() => shown.length >= total, 'the app showed the burst', 30_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    t.same(shown, range(1, total), `seqs 1..${total} shown once each, in order`)
    t.comment(`bob/burst (raw MQTT, node b): ${overtaken(seqs(bob, groupConv))} of ${seqs(bob, groupConv).length} overtaken on the live path`)
  })
})
