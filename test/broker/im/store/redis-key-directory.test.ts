import t from 'tap'
import { RedisKeyDirectory } from '../../../../broker/im/store/redis-key-directory.js'
import type { RedisServer } from '../../../helpers/redis-server.js'
import { keyDirectorySuite } from './key-directory.abstract.js'
import { redisClient, redisFactory, startRedis } from './redis-fixture.js'

let server: RedisServer
t.before(async () => { server = await startRedis(t) })

keyDirectorySuite(t, redisFactory(() => server, (client, prefix) => new RedisKeyDirectory(client, { prefix })))

t.test('two prefixes on one Redis are two directories', async (t) => {
  const client = redisClient(t, server)
  const one = new RedisKeyDirectory(client, { prefix: 'one:' })
  const two = new RedisKeyDirectory(client, { prefix: 'two:' })
  await one.put('alice', 'phone', { keyId: 'k1', alg: 'x25519', publicKey: 'AAAA', createdAt: 1 })
  t.same(await two.list('alice'), [])
  t.equal(await two.deleteAll('alice'), 0)
  t.equal((await one.list('alice')).length, 1)
  await Promise.all([one.close(), two.close()])
})
