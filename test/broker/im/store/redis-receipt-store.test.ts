import t from 'tap'
import { RedisReceiptStore } from '../../../../broker/im/store/redis-receipt-store.js'
import type { RedisServer } from '../../../helpers/redis-server.js'
import { receiptStoreSuite } from './receipt-store.abstract.js'
import { redisClient, redisFactory, startRedis } from './redis-fixture.js'

let server: RedisServer
t.before(async () => { server = await startRedis(t) })

receiptStoreSuite(t, redisFactory(() => server, (client, prefix) => new RedisReceiptStore(client, { prefix })))

t.test('advances racing on three nodes end at the highest, and each seq moves the receipt at most once', async (t) => {
  const nodes = [0, 1, 2].map(() => new RedisReceiptStore(redisClient(t, server), { prefix: 'nodes:' }))
  const conv = 'g:aaaaaaaaaaaa'
  const seqs = Array.from({ length: 100 }, (_, i) => i + 1)
  // every node advances bob's read receipt through the same seqs at once
  const moved = await Promise.all(nodes.map(node => Promise.all(seqs.map(seq => node.advance(conv, 'bob', 'read', seq)))))
  const movedBy = seqs.map((_, i) => moved.filter(perNode => perNode[i]).length)
  t.ok(movedBy.every(count => count <= 1), 'no seq moved the receipt on two nodes')
  t.ok(movedBy.some(count => count === 1), 'and some moved it')
  for (const node of nodes) t.same(await node.get(conv, 'bob'), { delivered: 100, read: 100 })
  await Promise.all(nodes.map(node => node.close()))
})
