import t from 'tap'
import { RedisUserStore } from '../../../broker/users/redis-user-store.js'
import type { ScryptParams } from '../../../broker/users/password-hash.js'
import type { RedisServer } from '../../helpers/redis-server.js'
import { waitFor } from '../../helpers/wait-for.js'
import { redisClient, startRedis } from '../im/store/redis-fixture.js'
import { userStoreSuite, type UserStoreFactory } from './user-store.abstract.js'

/** Cheap hashing for tests: the format and the code path are the same at any cost. */
const cheap: ScryptParams = { N: 2 ** 10, r: 8, p: 1 }

let server: RedisServer
t.before(async () => { server = await startRedis(t) })
let prefixes = 0

/** Each test its own prefix; restart() kills redis-server with SIGKILL and opens its AOF again. */
const factory: UserStoreFactory = async (t) => {
  const prefix = `users${++prefixes}:`
  let client = redisClient(t, server)
  const fixture = {
    store: new RedisUserStore(client, { prefix, scrypt: cheap }) as RedisUserStore,
    restart: async () => {
      await fixture.store.close()
      client.disconnect()
      await server.restart()
      client = redisClient(t, server)
      fixture.store = new RedisUserStore(client, { prefix, scrypt: cheap })
      return fixture.store
    }
  }
  return fixture
}

userStoreSuite(t, factory)

t.test('a user added on one node logs in on another, and both nodes sign tokens with one secret', async (t) => {
  const one = new RedisUserStore(redisClient(t, server), { prefix: 'nodes:', scrypt: cheap })
  const two = new RedisUserStore(redisClient(t, server), { prefix: 'nodes:', scrypt: cheap })
  const [a, b] = await Promise.all([one.signingSecret(), two.signingSecret()])
  t.same(a, b, 'first calls racing on two nodes agree on the secret')
  await one.add('alice', 'pw')
  t.equal(await two.verify('alice', 'pw'), true)
  await two.setPassword('alice', 'new')
  t.equal(await one.verify('alice', 'pw'), false, 'a password changed on one node is changed on all')
  const racing = await Promise.allSettled([one.add('bob', 'x'), two.add('bob', 'y')])
  t.equal(racing.filter(r => r.status === 'fulfilled').length, 1, 'two nodes adding one name: one wins')
  await two.delete('alice')
  t.equal(await one.get('alice'), undefined)
  await Promise.all([one.close(), two.close()])
})

t.test('concurrent password changes on two nodes both apply in some order and neither is lost half-way', async (t) => {
  const one = new RedisUserStore(redisClient(t, server), { prefix: 'cas:', scrypt: cheap })
  const two = new RedisUserStore(redisClient(t, server), { prefix: 'cas:', scrypt: cheap })
  const { created } = await one.add('carol', 'start')
  await Promise.all([one.setPassword('carol', 'from-one'), two.setPassword('carol', 'from-two')])
  const verified = [await one.verify('carol', 'from-one'), await one.verify('carol', 'from-two')]
  t.equal(verified.filter(Boolean).length, 1, 'one of the two passwords is the password')
  t.equal((await two.get('carol'))?.created, created, 'created stays')
  await Promise.all([one.close(), two.close()])
})

t.test('a hash made with older parameters still verifies, and a good login stores it again with the current ones', async (t) => {
  const client = redisClient(t, server)
  const old = new RedisUserStore(client, { prefix: 'rehash:', scrypt: { N: 2 ** 9, r: 4, p: 1 } })
  const { stamp } = await old.add('alice', 'pw')
  const store = new RedisUserStore(client, { prefix: 'rehash:', scrypt: cheap })
  const hash = async (): Promise<string> => (JSON.parse((await client.hget('rehash:users', 'alice'))!) as { hash: string }).hash
  t.equal(await store.verify('alice', 'wrong'), false)
  t.match(await hash(), /ln=9,r=4,p=1/, 'a failed login changes nothing')
  t.equal(await store.verify('alice', 'pw'), true)
  t.match(await hash(), /^\$scrypt\$ln=10,r=8,p=1\$/, 'rehashed at the good login')
  // (not /pw/ on the hash: its base64 has "pw" in it about one run in 50)
  t.notMatch(await client.hget('rehash:users', 'alice'), /"pw"/, 'the password itself is stored nowhere in the record')
  t.equal((await store.get('alice'))?.stamp, stamp, 'the password did not change, so its tokens stay valid')
})

t.test('with redis-server down, add() rejects with HAIL_ERR_STORE and adds nobody; after a restart the store works', async (t) => {
  const client = redisClient(t, server)
  const store = new RedisUserStore(client, { prefix: 'down:', scrypt: cheap })
  await store.add('alice', 'pw')
  await server.kill()
  await t.rejects(store.add('bob', 'pw'), { code: 'HAIL_ERR_STORE' })
  await t.rejects(store.verify('alice', 'pw'), { code: 'HAIL_ERR_STORE' }, 'a login cannot be checked: it fails, it does not pass')
  await server.restart()
  await waitFor(() => client.status === 'ready', 'the client to reconnect by itself')
  t.equal(await store.get('bob'), undefined)
  t.equal(await store.verify('alice', 'pw'), true)
  t.ok(await store.add('bob', 'pw'))
})
