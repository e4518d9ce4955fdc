import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from '../../index.js'
import type { HailServer } from '../../broker/index.js'
import { PASSWORD, RawDevice } from '../helpers/im-server.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

// A device offline at a recall has the message waiting in its MQTT offline
// queue (clean: false); on reconnect it gets the tombstone in the message's
// place, never the text (docs/protocol.md, "Recall"). Run on the embedded
// store and on a real redis-server, with the recall and the reconnect on the
// same node, across a restart, and (Redis) on two nodes.

const SECRET = 'the launch code is 0000'
const EDITED = 'the launch code is 1234'

interface Node { server: HailServer, port: number }

async function startNode (t: Test, dataDir: string, options: object): Promise<Node> {
  const server = createServer({ dataDir, host: '127.0.0.1', mqttPort: 0, httpPort: 0, ...options })
  const { mqtt } = await server.listen()
  let closed = false
  t.teardown(async () => { if (!closed) await server.close() })
  const close = server.close.bind(server)
  server.close = async () => {
    closed = true
    await close()
  }
  return { server, port: mqtt!.port }
}

/**
 * Alice and bob in a direct conversation; bob's phone subscribes once and
 * goes offline, alice sends a secret, edits it, sends a second message and
 * recalls the first: bob's queue holds all four.
 */
async function queueAndRecall (t: Test, node: Node): Promise<{ conv: string }> {
  const alice = await RawDevice.connect(t, node.port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, node.port, 'bob', 'phone')
  const { conv } = await alice.request('direct.open', { user: 'bob' })
  await bob.end()
  t.equal((await alice.send(conv, { text: SECRET })).seq, 1)
  t.equal((await alice.send(conv, { ref: 1, text: EDITED }, 'e1', 'edit')).seq, 2)
  t.equal((await alice.send(conv, { text: 'this one stays' })).seq, 3)
  t.match(await alice.send(conv, { ref: 1 }, 'del1', 'delete'), { type: 'sent', seq: 4 }, 'the recall is stored')
  await alice.end()
  return { conv }
}

/** Bob's phone comes back: what its queue gives, in order, with no trace of the text. */
async function reconnectAndCheck (t: Test, port: number, conv: string): Promise<void> {
  const bob = await RawDevice.connect(t, port, 'bob', 'phone', { subscribe: false })
  await waitFor(() => bob.messages(conv).some((m) => m.seq === 4), 'bob\'s queue reaches the recall')
  const got = bob.messages(conv)
  t.same(got.map((m) => m.seq), [1, 2, 3, 4], 'each queued message once, in order')
  t.match(got[0], { seq: 1, kind: 'text', from: 'alice', body: null, deleted: { by: 'alice', seq: 4 } }, 'the recalled message comes as its tombstone')
  t.match(got[1], { seq: 2, kind: 'edit', body: { ref: 1 }, deleted: { by: 'alice', seq: 4 } }, 'its edit as the edit\'s tombstone')
  t.same(got[2].body, { text: 'this one stays' })
  t.match(got[3], { seq: 4, kind: 'delete', body: { ref: 1 } })
  t.notOk(bob.events.some((e) => JSON.stringify(e.event).includes('launch code')), 'the device never sees the text nor the edit')
  await bob.end()
}

interface Store { name: string, options: (t: Test) => Promise<object> }
const stores: Store[] = [
  { name: 'the embedded store', options: async () => ({}) },
  {
    name: 'Redis',
    options: async (t) => {
      const redis = await RedisServer.start()
      t.teardown(() => redis.stop())
      return { redis: redis.url }
    }
  }
]

for (const store of stores) {
  t.test(`on ${store.name}`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'hail-recall-queued-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))

    t.test('a device offline at the recall gets the tombstone from its queue, not the text', async (t) => {
      const options = await store.options(t)
      const node = await startNode(t, join(dir, 'a'), options)
      for (const user of ['alice', 'bob']) await node.server.users.add(user, PASSWORD)
      const { conv } = await queueAndRecall(t, node)
      await reconnectAndCheck(t, node.port, conv)
    })

    t.test('a channel follower offline at the recall gets the tombstone from its feed subscription\'s queue', async (t) => {
      const options = await store.options(t)
      const node = await startNode(t, join(dir, 'ch'), options)
      for (const user of ['owner', 'fan']) await node.server.users.add(user, PASSWORD)
      const owner = await RawDevice.connect(t, node.port, 'owner', 'phone')
      const fan = await RawDevice.connect(t, node.port, 'fan', 'phone')
      const { conv } = await owner.request('channel.create', { name: 'news' })
      await fan.request('channel.follow', { conv })
      await fan.client.subscribeAsync(`im/conv/${conv}`, { qos: 1 })
      await fan.end()
      const secret = (await owner.send(conv, { text: SECRET })).seq as number
      const stays = (await owner.send(conv, { text: 'this one stays' })).seq as number
      const recall = await owner.send(conv, { ref: secret }, 'del1', 'delete')
      t.match(recall, { type: 'sent' }, 'the recall is stored')
      const back = await RawDevice.connect(t, node.port, 'fan', 'phone', { subscribe: false })
      await waitFor(() => back.messages(conv).some((m) => m.seq === recall.seq), 'the feed\'s queue reaches the recall')
      t.same(back.messages(conv).map((m) => m.seq), [secret, stays, recall.seq], 'each post once, in order')
      t.match(back.messages(conv)[0], { seq: secret, body: null, deleted: { by: 'owner', seq: recall.seq } }, 'the recalled post comes as its tombstone')
      t.notOk(back.events.some((e) => JSON.stringify(e.event).includes('launch code')), 'the follower never sees the text')
    })

    t.test('and after a restart between the recall and the reconnect', async (t) => {
      const options = await store.options(t)
      const dataDir = join(dir, 'b')
      const first = await startNode(t, dataDir, options)
      for (const user of ['alice', 'bob']) await first.server.users.add(user, PASSWORD)
      const { conv } = await queueAndRecall(t, first)
      await first.server.close()
      const second = await startNode(t, dataDir, options)
      await reconnectAndCheck(t, second.port, conv)
    })

    if (store.name === 'Redis') {
      t.test('and when the device comes back on another node than the recall\'s', async (t) => {
        const options = await store.options(t)
        const a = await startNode(t, join(dir, 'c1'), options)
        const b = await startNode(t, join(dir, 'c2'), options)
        for (const user of ['alice', 'bob']) await a.server.users.add(user, PASSWORD)
        // node b learned of no recall before bob's drain on it begins
        const { conv } = await queueAndRecall(t, a)
        await reconnectAndCheck(t, b.port, conv)
      })
    }
  })
}
