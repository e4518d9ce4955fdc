import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { Aedes, type AedesPublishPacket } from 'aedes'
import { Redis } from 'ioredis'
import pino from 'pino'
import { DurablePublish } from '../../../broker/mqtt/durable-publish.js'
import { RedisJournal } from '../../../broker/persistence/redis-journal.js'
import { JournalAdopter } from '../../../broker/redis/journal-adopter.js'
import { RedisServer } from '../../helpers/redis-server.js'
import { waitFor } from '../../helpers/wait-for.js'

const redisServer = await RedisServer.start()
const redis = new Redis(redisServer.url)
t.teardown(async () => {
  redis.disconnect()
  await redisServer.stop()
})

let runs = 0

/** A node that journaled `payloads`, registered under `test:node:{node}`: dead unless that key is set. */
async function deadNode (node: string, payloads: string[]): Promise<void> {
  const journal = new RedisJournal(redis, { nodeId: node })
  await journal.register(`test:node:${node}`)
  for (const p of payloads) await journal.append({ cmd: 'publish', topic: 'adopter/t', payload: p, qos: 1 })
}

/** This node: a real aedes with a subscriber, its journal, DurablePublish and the adopter; logs kept. */
async function node (t: Test, everyMs = 60_000): Promise<{ adopter: JournalAdopter, journal: RedisJournal, received: string[], logs: Array<Record<string, unknown>> }> {
  const id = `adopter-${runs++}`
  const liveness = `test:node:${id}`
  await redis.set(liveness, '1', 'PX', 120_000)
  const logs: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, new Writable({ write (chunk, _enc, done) { logs.push(JSON.parse(String(chunk))); done() } }))
  const journal = new RedisJournal(redis, { nodeId: id })
  const durable = new DurablePublish(journal, logger)
  const aedes = new Aedes()
  await aedes.listen()
  const received: string[] = []
  await new Promise<void>((resolve) => aedes.subscribe('adopter/#', (packet: AedesPublishPacket, done: () => void) => {
    received.push(String(packet.payload))
    done()
  }, resolve))
  const adopter = new JournalAdopter({ journal, durable, aedes, liveness, everyMs, logger })
  t.teardown(async () => {
    await adopter.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    await redis.del(liveness)
  })
  return { adopter, journal, received, logs }
}

const adoptedLogs = (logs: Array<Record<string, unknown>>): Array<Record<string, unknown>> =>
  logs.filter((l) => l.msg === 'adopted the publish journal of a dead node')

t.test('start() adopts what a dead node left, publishes it, completes it and logs the dead node with the count', async (t) => {
  const dead = `gone-${runs++}`
  await deadNode(dead, ['a', 'b', 'c'])
  const { adopter, journal, received, logs } = await node(t)
  t.equal(await adopter.start(), 3)
  t.same(received, ['a', 'b', 'c'])
  await journal.flush()
  t.equal(await redis.hlen(`hail:journal:${journal.nodeId}`), 0, 'completed in the adopter\'s journal')
  t.equal(await redis.hlen(`hail:journal:${dead}`), 0, 'gone from the dead node\'s')
  t.match(adoptedLogs(logs), [{ level: 30, deadNode: dead, adopted: 3, published: 3 }])
})

t.test('a node that dies while the adopter runs is adopted by its periodic pass', async (t) => {
  const later = `later-${runs++}`
  await redis.set(`test:node:${later}`, '1', 'PX', 120_000)
  await deadNode(later, ['x', 'y']) // alive still: its liveness key exists until below
  const { adopter, received } = await node(t, 50)
  await adopter.start()
  t.notOk(received.includes('x'), 'nothing taken while it lives')
  await redis.del(`test:node:${later}`)
  await waitFor(() => received.includes('x') && received.includes('y'), 'the periodic pass to adopt it', 30_000)
  t.pass('adopted once its liveness key was gone')
})

t.test('after close() the adopter takes nothing more', async (t) => {
  const { adopter, received } = await node(t, 20)
  await adopter.start()
  await adopter.close()
  const dead = `after-close-${runs++}`
  await deadNode(dead, ['z'])
  t.equal(await adopter.adoptNow(), 0)
  t.same(received, [])
  t.equal(await redis.hlen(`hail:journal:${dead}`), 1, 'left for a live node')
  await redis.del(`hail:journal:${dead}`, 'hail:journal:nodes')
})
