import t from 'tap'
import { Redis } from 'ioredis'
import { RedisPushTokenStore } from '../../../../broker/im/store/redis-push-token-store.js'
import type { RedisServer } from '../../../helpers/redis-server.js'
import { pushTokenStoreSuite } from './push-token-store.abstract.js'
import { redisClient, redisFactory, startRedis } from './redis-fixture.js'

let server: RedisServer
t.before(async () => { server = await startRedis(t) })

pushTokenStoreSuite(t, redisFactory(() => server, (client, prefix) => new RedisPushTokenStore(client, { prefix })))

t.test('a token registered on one node moves away from its owner on another node', async (t) => {
  const one = new RedisPushTokenStore(redisClient(t, server), { prefix: 'nodes:' })
  const two = new RedisPushTokenStore(redisClient(t, server), { prefix: 'nodes:' })
  await one.register('bob', 'phone', 'handed-over', 'apns')
  await two.register('carol', 'phone', 'handed-over', 'apns')
  t.same(await one.list('bob'), [])
  t.same((await one.list('carol')).map(x => x.token), ['handed-over'])
  await Promise.all([one.close(), two.close()])
})

t.test('with a client keyPrefix as well, a token still moves between users', async (t) => {
  const client = redisClient(t, server)
  const prefixed = new Redis(server.url, { keyPrefix: 'deploy7:', maxRetriesPerRequest: 0 })
  t.teardown(() => { prefixed.disconnect() })
  const store = new RedisPushTokenStore(prefixed, { prefix: 'hail:' })
  await store.register('bob', 'phone', 'tok', 'fcm')
  await store.register('carol', 'tablet', 'tok', 'fcm')
  t.same(await store.list('bob'), [])
  t.same(await client.hlen('deploy7:hail:push:bob'), 0, 'the old owner\'s entry was deleted under the full prefix')
  t.same(await client.hlen('deploy7:hail:push:carol'), 1)
  await store.close()
})
