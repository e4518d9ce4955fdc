import t from 'tap'
import { Redis } from 'ioredis'
import { REDIS_STORE_CLIENT_OPTIONS } from '../../../../broker/storage/index.js'
import { createRedisImStores } from '../../../../broker/im/store/redis-im-stores.js'
import type { RedisServer } from '../../../helpers/redis-server.js'
import { redisClient, startRedis } from './redis-fixture.js'

let server: RedisServer
t.before(async () => { server = await startRedis(t) })

t.test('createRedisImStores() puts every store on one client under one prefix, and a second node sees it all', async (t) => {
  const client = redisClient(t, server)
  const stores = createRedisImStores(client, { prefix: 'deploy1:' })
  const conv = 'g:aaaaaaaaaaaa'
  await stores.conversations.create(conv, { createdBy: 'alice' }, [{ user: 'alice', role: 'owner' }])
  await stores.log.append(conv, { from: 'alice', device: 'phone', cid: 'm1', kind: 'text', body: 'hi' })
  await stores.receipts.advance(conv, 'alice', 'read', 1)
  await stores.keys.put('alice', 'phone', { keyId: 'k1', alg: 'x25519', publicKey: 'AAAA', createdAt: 1 })
  await stores.pushTokens.register('alice', 'phone', 'tok', 'fcm')
  await stores.close()
  await t.rejects(stores.log.append(conv, { from: 'alice', device: 'phone', cid: 'm2', kind: 'text', body: 'late' }), { code: 'HAIL_ERR_STORE' }, 'closed stores refuse writes')
  t.equal(client.status, 'ready', 'close() leaves the client to its owner')

  await server.restart()
  const other = createRedisImStores(redisClient(t, server), { prefix: 'deploy1:' })
  t.equal((await other.conversations.member(conv, 'alice'))?.role, 'owner')
  t.equal((await other.log.get(conv, 1))?.body, 'hi')
  t.same(await other.receipts.get(conv, 'alice'), { delivered: 1, read: 1 })
  t.equal((await other.keys.list('alice')).length, 1)
  t.equal((await other.pushTokens.list('alice')).length, 1)
  const elsewhere = createRedisImStores(redisClient(t, server), { prefix: 'deploy2:' })
  t.equal(await elsewhere.log.lastSeq(conv), 0, 'another prefix is another deployment')
  const keys = (await redisClient(t, server).keys('*')).sort()
  t.ok(keys.length > 0 && keys.every(key => key.startsWith('deploy1:')), 'every key under the prefix')
  await Promise.all([other.close(), elsewhere.close()])
})

t.test('on a client with a keyPrefix of its own, every store keeps its keys under both prefixes, the keys scripts build included', async (t) => {
  const prefixed = new Redis(server.url, { ...REDIS_STORE_CLIENT_OPTIONS, keyPrefix: 'tenant7:' })
  prefixed.on('error', () => {})
  t.teardown(() => { prefixed.disconnect() })
  const stores = createRedisImStores(prefixed, { prefix: 'hail:' })
  const conv = 'g:aaaaaaaaaaaa'
  await stores.conversations.create(conv, { createdBy: 'alice' }, [{ user: 'alice', role: 'owner' }, { user: 'bob', role: 'member' }])
  await stores.log.append(conv, { from: 'alice', device: 'phone', cid: 'm1', kind: 'text', body: 'hi' })
  await stores.pushTokens.register('alice', 'phone', 'tok', 'fcm')
  await stores.pushTokens.register('bob', 'phone', 'tok', 'fcm')
  const plain = redisClient(t, server)
  const keys = (await plain.keys('*hail:*')).sort()
  t.ok(keys.length > 0 && keys.every(key => key.startsWith('tenant7:hail:')), `every key under both prefixes: ${keys.join(' ')}`)
  t.equal(await stores.conversations.delete(conv), true)
  t.same(await stores.conversations.conversationsOf('bob'), [], 'delete() reached the members\' side')
  t.same(await plain.keys('*hail:user:*'), [], 'and left no user key behind')
  t.same(await stores.pushTokens.list('alice'), [], 'the token moved away from alice')
  await stores.close()
})
