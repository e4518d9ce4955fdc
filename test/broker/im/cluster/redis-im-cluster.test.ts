import t from 'tap'
import { Aedes } from 'aedes'
import mqemitter from 'mqemitter'
import mqemitterRedis from 'mqemitter-redis'
import pino from 'pino'
import { RedisImCluster } from '../../../../broker/im/cluster/redis-im-cluster.js'
import { Membership } from '../../../../broker/im/membership.js'
import { Publisher } from '../../../../broker/im/publisher.js'
import { Retention } from '../../../../broker/im/retention.js'
import type { MessageLog } from '../../../../broker/im/store/message-log.js'
import { RedisServer } from '../../../helpers/redis-server.js'
import { waitFor } from '../../../helpers/wait-for.js'

const silent = pino({ level: 'silent' })

t.test('RedisImCluster', async (t) => {
  const redis = await RedisServer.start({ appendfsyncAlways: false })
  t.teardown(() => redis.stop())

  t.test('a lease is held by one node at a time and free again once it expires', async (t) => {
    const nodes = [0, 1, 2].map(() => new RedisImCluster({ redis: redis.url, emitter: mqemitter(), keyPrefix: 'lease:', logger: silent }))
    t.teardown(() => Promise.all(nodes.map(async (n) => await n.close())))
    const first = await Promise.all(nodes.map(async (n) => await n.lease('retention', 300)))
    t.equal(first.filter(Boolean).length, 1, 'one node of three won')
    await waitFor(async () => (await nodes[1]!.lease('retention', 300)) || (await nodes[2]!.lease('retention', 300)), 'the lease free again', 10_000)
    t.pass('another node took it after it expired')
    t.notSame(nodes[0]!.nodeId, nodes[1]!.nodeId, 'node ids are unique per process start')
  })

  t.test('retention on three nodes: only the lease holder prunes on the timer', async (t) => {
    const pruned: string[] = []
    const nodes = [0, 1, 2].map(() => new RedisImCluster({ redis: redis.url, emitter: mqemitter(), keyPrefix: 'retention:', logger: silent }))
    t.teardown(() => Promise.all(nodes.map(async (n) => await n.close())))
    const membership = new Membership()
    membership.set('g:1', 'ann', 'owner')
    const retentions = nodes.map((node, i) => new Retention(
      { prune: async (conv: string) => { pruned.push(`${i}:${conv}`); return 0 } } as unknown as MessageLog,
      membership, { maxCount: 10, maxAgeMs: null, intervalMs: 60_000 }, silent,
      async () => await node.lease('retention', 59_000)))
    for (const r of retentions) r.start()
    t.teardown(() => Promise.all(retentions.map(async (r) => await r.stop())))
    await waitFor(() => pruned.length >= 1, 'a pass', 10_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    t.equal(pruned.length, 1, `one pass in the cluster, not three (${pruned.join(', ')})`)
  })

  t.test('start warns when aedes\' emitter is not shared through Redis, and the node still runs', async (t) => {
    const lines: string[] = []
    const logger = pino({ level: 'warn' }, { write: (line: string) => { lines.push(line) } })
    const mq = mqemitter()
    const aedes = await Aedes.createBroker({ mq })
    const cluster = new RedisImCluster({ redis: redis.url, emitter: mq, keyPrefix: 'warn:', logger })
    const publisher = new Publisher()
    publisher.attach(aedes)
    const presence = cluster.presence(publisher, logger, 100)
    await cluster.start(new Membership(), async function * () {})
    t.teardown(async () => {
      await presence.close()
      await cluster.close()
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
    })
    t.match(lines.join(''), /not mqemitter-redis/)
  })

  t.test('with mqemitter-redis it starts without that warning', async (t) => {
    const lines: string[] = []
    const logger = pino({ level: 'warn' }, { write: (line: string) => { lines.push(line) } })
    const mq = mqemitterRedis({ connectionString: redis.url })
    const aedes = await Aedes.createBroker({ mq })
    const cluster = new RedisImCluster({ redis: redis.url, emitter: mq, keyPrefix: 'nowarn:', logger })
    const publisher = new Publisher()
    publisher.attach(aedes)
    const presence = cluster.presence(publisher, logger, 100)
    await cluster.start(new Membership(), async function * () {})
    t.teardown(async () => {
      await presence.close()
      await cluster.close()
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
    })
    t.notMatch(lines.join(''), /not mqemitter-redis/)
  })
})
