import t from 'tap'
import { directConvId, newChannelId, newGroupId, parseConvId } from '../../../../broker/im/store/conv-id.js'

t.test('directConvId() sorts the two names, so either order gives one id', async (t) => {
  t.equal(directConvId('bob', 'alice'), 'd:alice:bob')
  t.equal(directConvId('alice', 'bob'), 'd:alice:bob')
  t.equal(directConvId('a.b-c_d', '0x'), 'd:0x:a.b-c_d')
  t.throws(() => directConvId('alice', 'Bob'), { code: 'HAIL_ERR_STORE_INPUT' })
  t.throws(() => directConvId('alice', 'a:b'), { code: 'HAIL_ERR_STORE_INPUT' })
})

t.test('parseConvId() reads the three kinds, and only their canonical form', async (t) => {
  t.same(parseConvId('d:alice:bob'), { type: 'direct', id: 'd:alice:bob', users: ['alice', 'bob'] })
  t.same(parseConvId('g:abcdefgh2345'), { type: 'group', id: 'g:abcdefgh2345', groupId: 'abcdefgh2345' })
  t.same(parseConvId('c:zzzzzzzzzzzz'), { type: 'channel', id: 'c:zzzzzzzzzzzz', channelId: 'zzzzzzzzzzzz' })
  for (const bad of ['d:bob:alice', 'd:alice', 'd:alice:bob:carol', 'd:Alice:bob', 'g:abc', 'g:abcdefgh2341', 'g:ABCDEFGH2345',
    'c:zzzzzzzzzzzzz', 'x:zzzzzzzzzzzz', 'general', '', 'g:', 'd:alice:bob/x', 42, null]) {
    t.equal(parseConvId(bad), null, `${JSON.stringify(bad)} is no conversation id`)
  }
})

t.test('new group and channel ids are 12 random base32 characters and parse back', async (t) => {
  const ids = new Set<string>()
  for (let i = 0; i < 1000; i++) {
    const group = newGroupId()
    const channel = newChannelId()
    t.match(group, /^g:[a-z2-7]{12}$/)
    t.match(channel, /^c:[a-z2-7]{12}$/)
    t.equal(parseConvId(group)?.type, 'group')
    t.equal(parseConvId(channel)?.type, 'channel')
    ids.add(group).add(channel)
  }
  t.equal(ids.size, 2000, 'no repeats')
})
