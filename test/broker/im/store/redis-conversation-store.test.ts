import t from 'tap'
import { RedisConversationStore } from '../../../../broker/im/store/redis-conversation-store.js'
import type { RedisServer } from '../../../helpers/redis-server.js'
import { waitFor } from '../../../helpers/wait-for.js'
import { conversationStoreSuite } from './conversation-store.abstract.js'
import { redisClient, redisFactory, replyDroppingProxy, startRedis } from './redis-fixture.js'

let server: RedisServer
t.before(async () => { server = await startRedis(t) })

conversationStoreSuite(t, redisFactory(() => server, (client, prefix) => new RedisConversationStore(client, { prefix })))

const G = 'g:aaaaaaaaaaaa'

t.test('what one node changes, another node sees at once: members, roles, contacts, deletes', async (t) => {
  const prefix = 'nodes:'
  const one = new RedisConversationStore(redisClient(t, server), { prefix })
  const two = new RedisConversationStore(redisClient(t, server), { prefix })
  t.equal(await two.member(G, 'bob'), undefined, 'asked before the group exists')
  t.same(await two.contactsOf('bob'), new Set())
  await one.create(G, { createdBy: 'alice' }, [{ user: 'alice', role: 'owner' }])
  await one.addMember(G, { user: 'bob', role: 'member', joinedSeq: 3 })
  t.same(await two.member(G, 'bob'), { user: 'bob', role: 'member', joinedSeq: 3 }, 'an add on one node')
  t.same([...await two.contactsOf('bob')], ['alice'])
  await two.setRole(G, 'bob', 'admin')
  t.equal((await one.member(G, 'bob'))?.role, 'admin', 'a role change on the other')
  await one.removeMember(G, 'bob')
  t.equal(await two.member(G, 'bob'), undefined, 'a remove')
  t.equal(await two.sharesConversation('alice', 'bob'), false)
  const racing = await Promise.all([one, two, one, two].map(node => node.create('g:bbbbbbbbbbbb', { createdBy: 'carol' }, [{ user: 'carol', role: 'owner' }])))
  t.equal(racing.filter(Boolean).length, 1, 'of four nodes creating one group, one did')
  t.equal(await two.delete(G), true)
  t.equal(await one.get(G), undefined, 'a delete')
  const walked = []
  for await (const m of one.allMemberships()) walked.push(`${m.conv} ${m.user}`)
  t.same(walked, ['g:bbbbbbbbbbbb carol'], 'allMemberships() on any node walks what is in Redis')
  await Promise.all([one.close(), two.close()])
})

t.test('allMemberships() walks more conversations than fit in one page, in id order', async (t) => {
  const store = new RedisConversationStore(redisClient(t, server), { prefix: 'walk:' })
  const convs = Array.from({ length: 250 }, (_, i) => `d:u${String(i).padStart(3, '0')}:zed`)
  await Promise.all(convs.map((conv, i) => store.create(conv, { createdBy: 'zed' }, [{ user: `u${String(i).padStart(3, '0')}`, role: 'member' }, { user: 'zed', role: 'member' }])))
  const walked: string[] = []
  for await (const m of store.allMemberships()) walked.push(`${m.conv} ${m.user}`)
  t.same(walked, convs.flatMap((conv, i) => [`${conv} u${String(i).padStart(3, '0')}`, `${conv} zed`]))
  t.equal((await store.contactsOf('zed')).size, 250)
  await store.close()
})

t.test('a write with redis-server down rejects with HAIL_ERR_STORE and changes nothing; after a restart the store works', async (t) => {
  const client = redisClient(t, server)
  const store = new RedisConversationStore(client, { prefix: 'down:' })
  await store.create(G, { createdBy: 'alice' }, [{ user: 'alice', role: 'owner' }])
  await server.kill()
  await t.rejects(store.addMember(G, { user: 'bob', role: 'member' }), { code: 'HAIL_ERR_STORE' })
  await t.rejects(store.member(G, 'alice'), { code: 'HAIL_ERR_STORE' }, 'reads reject too')
  await server.restart()
  await waitFor(() => client.status === 'ready', 'the client to reconnect by itself')
  t.equal(await store.member(G, 'bob'), undefined, 'the rejected add did not happen')
  t.equal(await store.addMember(G, { user: 'bob', role: 'member' }), true)
  t.same((await store.members(G)).map(m => m.user), ['alice', 'bob'])
  await store.close()
})

t.test('when the reply to create() is lost and ioredis sends it again, create() still resolves true', async (t) => {
  const proxy = await replyDroppingProxy(t, server)
  const store = new RedisConversationStore(proxy.client(), { prefix: 'lost-reply:' })
  await store.create('g:bbbbbbbbbbbb', { createdBy: 'alice' }, [{ user: 'alice', role: 'owner' }])
  proxy.arm()
  t.equal(await store.create(G, { createdBy: 'alice' }, [{ user: 'alice', role: 'owner' }]), true, 'this call created it')
  t.equal(proxy.armed, false, 'the reply was lost on the way')
  t.equal(await store.create(G, { createdBy: 'bob' }, [{ user: 'bob', role: 'owner' }]), false, 'another create still finds it there')
  t.same(await store.members(G), [{ user: 'alice', role: 'owner', joinedSeq: 0 }])
  await store.close()
})
