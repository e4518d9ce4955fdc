import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Level } from 'level'
import { Redis } from 'ioredis'
import { GroupCommit } from '../../../broker/storage/index.js'
import { Journal } from '../../../broker/persistence/journal.js'
import { RedisJournal } from '../../../broker/persistence/redis-journal.js'
import { publishJournalSuite } from '../../helpers/publish-journal-suite.js'
import { RedisServer } from '../../helpers/redis-server.js'

const root = await mkdtemp(join(tmpdir(), 'hail-redis-journal-'))
const redisServer = await RedisServer.start()
t.teardown(async () => {
  await redisServer.stop()
  await rm(root, { recursive: true, force: true })
})
let stores = 0

// The level journal runs the same suite here, so the two cannot drift apart.
publishJournalSuite(t, 'Journal (level)', async () => {
  const dir = join(root, String(stores++))
  const dbs = new Map<object, Level<string, Buffer>>()
  return {
    async open () {
      const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
      await db.open()
      const journal = new Journal(db.sublevel('journal'), new GroupCommit(db))
      dbs.set(journal, db)
      return journal
    },
    async close (journal) { await journal.flush(); await dbs.get(journal)?.close() }
  }
})

publishJournalSuite(t, 'RedisJournal', async () => {
  const nodeId = `node-${stores++}`
  const connections = new Map<object, Redis>()
  return {
    async open () {
      const redis = new Redis(redisServer.url)
      const journal = new RedisJournal(redis, { nodeId })
      connections.set(journal, redis)
      return journal
    },
    async close (journal) { await journal.flush(); connections.get(journal)?.disconnect() }
  }
})

t.test('each node has its own Redis journal', async (t) => {
  const redis = new Redis(redisServer.url)
  t.teardown(() => redis.disconnect())
  const a = new RedisJournal(redis, { nodeId: 'a' })
  const b = new RedisJournal(redis, { nodeId: 'b' })
  await a.append({ cmd: 'publish', topic: 't', payload: 'from a', qos: 1 })
  const seen = []
  for await (const entry of b.pending()) seen.push(entry)
  t.same(seen, [])
})

t.test('a Redis journal append fails with a StoreError while Redis is down, and works once it is back', async (t) => {
  const own = await RedisServer.start()
  const redis = new Redis(own.url, { maxRetriesPerRequest: 0, retryStrategy: () => 100 })
  redis.on('error', () => {})
  t.teardown(async () => { redis.disconnect(); await own.stop() })
  const journal = new RedisJournal(redis, { nodeId: 'n' })
  const first = await journal.append({ cmd: 'publish', topic: 't', payload: 'a', qos: 1 })
  await own.kill()
  await t.rejects(journal.append({ cmd: 'publish', topic: 't', payload: 'b', qos: 1 }), { code: 'HAIL_ERR_STORE' })
  await own.restart()
  const second = await journal.append({ cmd: 'publish', topic: 't', payload: 'c', qos: 1 })
  t.ok(second > first)
  const payloads = []
  for await (const entry of journal.pending()) payloads.push(String(entry.packet.payload))
  t.same(payloads, ['a', 'c'], 'the AOF kept the first entry over the restart; the refused one is not there')
})
