import t from 'tap'
import { Redis } from 'ioredis'
import type { JournalEntry } from '../../../broker/persistence/journal.js'
import { RedisJournal } from '../../../broker/persistence/redis-journal.js'
import { RedisServer } from '../../helpers/redis-server.js'

const redisServer = await RedisServer.start()
const redis = new Redis(redisServer.url)
t.teardown(async () => {
  redis.disconnect()
  await redisServer.stop()
})

let runs = 0
/** Fresh node names per test, so the tests share one Redis without meeting. */
function names (): { dead: string, alive: string, other: string } {
  const run = runs++
  return { dead: `dead-${run}`, alive: `alive-${run}`, other: `other-${run}` }
}

const liveness = (node: string): string => `test:node:${node}`

function publish (payload: string) {
  return { cmd: 'publish' as const, topic: 'adopt/t', payload, qos: 1 as const, retain: false, dup: false, messageId: 1 }
}

async function pending (journal: RedisJournal): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = []
  for await (const entry of journal.pending()) entries.push(entry)
  return entries
}

/** A node that journaled `payloads` and then died: registered, its liveness key gone. */
async function deadNode (node: string, payloads: string[]): Promise<RedisJournal> {
  const journal = new RedisJournal(redis, { nodeId: node })
  await journal.register(liveness(node))
  for (const p of payloads) await journal.append(publish(p))
  await redis.del(liveness(node))
  return journal
}

/** A node that lives: its liveness key exists. */
async function liveNode (node: string): Promise<RedisJournal> {
  await redis.set(liveness(node), '1', 'PX', 60_000)
  const journal = new RedisJournal(redis, { nodeId: node })
  await journal.register(liveness(node))
  return journal
}

t.test('the entries of a node whose liveness key is gone move, oldest first, into the adopter\'s own journal', async (t) => {
  const n = names()
  const dead = await deadNode(n.dead, ['m1', 'm2', 'm3'])
  const adopter = await liveNode(n.alive)
  const own = await adopter.append(publish('own'))

  const owners = await adopter.owners()
  const owner = owners.find((o) => o.node === n.dead)
  t.same(owner, { node: n.dead, liveness: liveness(n.dead) }, 'the dead node is listed with its liveness key')
  t.notOk(owners.some((o) => o.node === n.alive), 'a node never lists itself')

  const moved = await adopter.adopt(owner!)
  t.same(moved.map((e) => String(e.packet.payload)), ['m1', 'm2', 'm3'], 'every entry, in append order')
  t.same(moved.map((e) => e.packet.topic), ['adopt/t', 'adopt/t', 'adopt/t'])
  t.ok(moved.every((e) => e.key > own), 'new keys from the adopter\'s counter, after its own')
  t.same(await pending(dead), [], 'the dead node\'s journal is empty')
  const mine = await pending(adopter)
  t.same(mine.map((e) => e.key), [own, ...moved.map((e) => e.key)], 'the adopter\'s journal holds its own entry and the moved ones')
  t.same(mine.map((e) => String(e.packet.payload)), ['own', 'm1', 'm2', 'm3'])
  t.notOk((await adopter.owners()).some((o) => o.node === n.dead), 'an emptied journal leaves the registry')
  t.same(await adopter.adopt(owner!), [], 'adopting it again moves nothing')
})

t.test('a live node\'s journal is left alone', async (t) => {
  const n = names()
  const live = await liveNode(n.other)
  await live.append(publish('mine'))
  const adopter = await liveNode(n.alive)
  const owner = (await adopter.owners()).find((o) => o.node === n.other)
  t.ok(owner, 'the live node is registered')
  t.same(await adopter.adopt(owner!), [], 'nothing moves while its liveness key exists')
  t.same((await pending(live)).map((e) => String(e.packet.payload)), ['mine'])
  t.same(await pending(adopter), [])
})

t.test('a node taken for dead that started again under a new liveness key is left alone', async (t) => {
  const n = names()
  const dead = await deadNode(n.dead, ['m1'])
  const adopter = await liveNode(n.alive)
  const stale = (await adopter.owners()).find((o) => o.node === n.dead)!
  // It comes back (same node id, new IM cluster id) before the adopter acts.
  await redis.set(liveness(`${n.dead}-again`), '1', 'PX', 60_000)
  await dead.register(liveness(`${n.dead}-again`))
  t.same(await adopter.adopt(stale), [], 'the adopter\'s view of it is stale: nothing moves')
  t.same(await adopter.adopt({ node: n.dead, liveness: liveness(`${n.dead}-again`) }), [], 'and its new key lives')
  t.same((await pending(dead)).map((e) => String(e.packet.payload)), ['m1'], 'its entry is its own to replay')
})

t.test('a node adopts nothing while its own liveness key is missing (after a Redis outage every key may have expired)', async (t) => {
  const n = names()
  const dead = await deadNode(n.dead, ['m1'])
  const adopter = await liveNode(n.alive)
  await redis.del(liveness(n.alive))
  t.same(await adopter.adopt({ node: n.dead, liveness: liveness(n.dead) }), [])
  t.equal((await pending(dead)).length, 1)
  await redis.set(liveness(n.alive), '1', 'PX', 60_000)
  t.equal((await adopter.adopt({ node: n.dead, liveness: liveness(n.dead) })).length, 1, 'once it lives again, it adopts')
})

t.test('an empty or missing journal is a no-op', async (t) => {
  const n = names()
  const adopter = await liveNode(n.alive)
  await deadNode(n.dead, [])
  t.ok((await adopter.owners()).some((o) => o.node === n.dead), 'registered with nothing in it')
  t.same(await adopter.adopt({ node: n.dead, liveness: liveness(n.dead) }), [])
  t.notOk((await adopter.owners()).some((o) => o.node === n.dead), 'and dropped from the registry')
  t.same(await adopter.adopt({ node: 'never-was', liveness: liveness('never-was') }), [], 'an unknown node: nothing')
  t.same(await adopter.adopt({ node: n.alive, liveness: liveness(n.alive) }), [], 'itself: nothing')
  t.same(await pending(adopter), [])
})

t.test('two adopters racing move every entry exactly once', async (t) => {
  const n = names()
  const N = 1200
  const payloads = Array.from({ length: N }, (_, i) => `m${i}`)
  const dead = new RedisJournal(redis, { nodeId: n.dead })
  await dead.register(liveness(n.dead))
  await Promise.all(payloads.map((p) => dead.append(publish(p))))
  await redis.del(liveness(n.dead))
  // Separate connections, so the two really run side by side.
  const redisA = new Redis(redisServer.url)
  const redisB = new Redis(redisServer.url)
  t.teardown(() => { redisA.disconnect(); redisB.disconnect() })
  await redis.set(liveness(n.alive), '1', 'PX', 60_000)
  await redis.set(liveness(n.other), '1', 'PX', 60_000)
  const a = new RedisJournal(redisA, { nodeId: n.alive })
  const b = new RedisJournal(redisB, { nodeId: n.other })
  await a.register(liveness(n.alive))
  await b.register(liveness(n.other))
  const owner = { node: n.dead, liveness: liveness(n.dead) }
  const drain = async (journal: RedisJournal): Promise<JournalEntry[]> => {
    const all: JournalEntry[] = []
    for (;;) {
      const batch = await journal.adopt(owner, 25)
      if (batch.length === 0) return all
      all.push(...batch)
    }
  }
  const [byA, byB] = await Promise.all([drain(a), drain(b)])
  t.ok(byA.length > 0 && byB.length > 0, `both took part (${byA.length} and ${byB.length})`)
  const moved = [...byA, ...byB].map((e) => String(e.packet.payload))
  t.equal(moved.length, N, 'no entry moved twice')
  t.same(new Set(moved), new Set(payloads), 'none lost')
  t.same((await pending(a)).map((e) => e.key), byA.map((e) => e.key), 'each adopter\'s journal holds what it was handed')
  t.same((await pending(b)).map((e) => e.key), byB.map((e) => e.key))
  t.same(await pending(dead), [])
})

t.test('a node that was taken for dead puts itself back in the registry with its next append', async (t) => {
  const n = names()
  const lapsed = await deadNode(n.other, ['before'])
  const adopter = await liveNode(n.alive)
  t.equal((await adopter.adopt({ node: n.other, liveness: liveness(n.other) })).length, 1)
  t.notOk((await adopter.owners()).some((o) => o.node === n.other))
  // It was alive after all (silent through an outage) and goes on journaling; then it really dies.
  await lapsed.append(publish('after'))
  const owner = (await adopter.owners()).find((o) => o.node === n.other)
  t.same(owner, { node: n.other, liveness: liveness(n.other) }, 'registered again by the append')
  t.same((await adopter.adopt(owner!)).map((e) => String(e.packet.payload)), ['after'], 'so what it journaled since is adoptable too')
})

t.test('adopting before registering is refused with a StoreError', async (t) => {
  const journal = new RedisJournal(redis, { nodeId: 'unregistered' })
  await t.rejects(journal.adopt({ node: 'x', liveness: liveness('x') }), { code: 'HAIL_ERR_STORE' })
})
