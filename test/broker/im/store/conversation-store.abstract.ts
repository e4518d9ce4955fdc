import type { Test } from 'tap'
import type { ConversationStore } from '../../../../broker/im/store/conversation-store.js'
import type { StoreFactory } from './store-fixture.js'

const G = 'g:aaaaaaaaaaaa'
const G2 = 'g:bbbbbbbbbbbb'
const C = 'c:cccccccccccc'
const D = 'd:alice:bob'

async function setUp (store: ConversationStore): Promise<void> {
  await store.create(D, { createdBy: 'alice', createdAt: 1 }, [{ user: 'alice', role: 'member' }, { user: 'bob', role: 'member' }])
  await store.create(G, { createdBy: 'alice', createdAt: 2, name: 'team' }, [
    { user: 'alice', role: 'owner' }, { user: 'carol', role: 'member' }, { user: 'dave', role: 'member', joinedSeq: 5 }
  ])
  await store.create(C, { createdBy: 'alice', createdAt: 3, name: 'news' }, [
    { user: 'alice', role: 'owner' }, { user: 'erin', role: 'follower' }, { user: 'frank', role: 'follower' }
  ])
}

function sorted (set: ReadonlySet<string>): string[] {
  return [...set].sort()
}

/** The conformance suite every ConversationStore implementation runs. */
export function conversationStoreSuite (t: Test, factory: StoreFactory<ConversationStore>): void {
  t.test('create() stores the conversation and its members; creating it again changes nothing', async (t) => {
    const { store } = await factory(t)
    await setUp(store)
    t.same(await store.get(G), { id: G, type: 'group', name: 'team', createdBy: 'alice', createdAt: 2 })
    t.same(await store.get(D), { id: D, type: 'direct', createdBy: 'alice', createdAt: 1 }, 'no name: no name field')
    t.equal((await store.get(C))?.type, 'channel')
    t.equal(await store.get('g:zzzzzzzzzzzz'), undefined)
    t.equal(await store.get('not an id'), undefined)
    t.same((await store.members(G)).sort((a, b) => a.user.localeCompare(b.user)), [
      { user: 'alice', role: 'owner', joinedSeq: 0 },
      { user: 'carol', role: 'member', joinedSeq: 0 },
      { user: 'dave', role: 'member', joinedSeq: 5 }
    ])
    t.same(await store.member(G, 'dave'), { user: 'dave', role: 'member', joinedSeq: 5 })
    t.equal(await store.member(G, 'bob'), undefined)
    t.equal(await store.member('g:zzzzzzzzzzzz', 'alice'), undefined, 'nobody is a member of a missing conversation')
    t.equal(await store.member(G, 'Not A Name'), undefined, 'a malformed name is no member')

    t.equal(await store.create(G, { createdBy: 'bob' }, [{ user: 'bob', role: 'owner' }]), false, 'a second create resolves false')
    t.equal(await store.member(G, 'bob'), undefined, 'and adds nobody')
    t.equal((await store.get(G))?.createdBy, 'alice')
  })

  t.test('create() refuses a third user in a direct conversation, a member listed twice, and a bad role', async (t) => {
    const { store } = await factory(t)
    const code = 'HAIL_ERR_STORE_INPUT'
    await t.rejects(store.create(D, { createdBy: 'alice' }, [{ user: 'alice', role: 'member' }, { user: 'carol', role: 'member' }]), { code })
    await t.rejects(store.create(G, { createdBy: 'alice' }, [{ user: 'alice', role: 'owner' }, { user: 'alice', role: 'member' }]), { code })
    await t.rejects(store.create(G, { createdBy: 'alice' }, [{ user: 'alice', role: 'king' as 'owner' }]), { code })
    await t.rejects(store.create('x:whatever', { createdBy: 'alice' }, []), { code })
    t.equal(await store.get(G), undefined, 'nothing was created')
    await store.create(D, { createdBy: 'alice' }, [{ user: 'alice', role: 'member' }])
    await t.rejects(store.addMember(D, { user: 'carol', role: 'member' }), { code }, 'nor added later')
  })

  t.test('member() follows addMember() and removeMember(), also when asked before and while they run', async (t) => {
    const fixture = await factory(t)
    let store = fixture.store
    await setUp(store)
    t.equal(await store.member(G, 'bob'), undefined, 'not a member yet (and remembered as such)')
    t.equal(await store.addMember(G, { user: 'bob', role: 'member', joinedSeq: 42 }), true)
    t.same(await store.member(G, 'bob'), { user: 'bob', role: 'member', joinedSeq: 42 }, 'seen right after the add')
    t.equal(await store.addMember(G, { user: 'bob', role: 'admin' }), false, 'adding again resolves false')
    t.equal((await store.member(G, 'bob'))?.role, 'member', 'and changes nothing')
    t.equal(await store.removeMember(G, 'carol'), true)
    t.equal(await store.member(G, 'carol'), undefined, 'gone right after the remove')
    t.equal(await store.removeMember(G, 'carol'), false, 'removing again resolves false')

    for (let i = 0; i < 30; i++) {
      const user = `racer${i}`
      const [, during] = await Promise.all([store.addMember(G, { user, role: 'member' }), store.member(G, user)])
      t.ok(during === undefined || during.user === user)
      if (i % 2 === 0) await Promise.all([store.member(G, user), store.removeMember(G, user), store.member(G, user)])
    }
    const expected = (i: number): boolean => i % 2 === 1
    const seen = await Promise.all(Array.from({ length: 30 }, (_, i) => store.member(G, `racer${i}`)))
    t.same(seen.map(m => m !== undefined), Array.from({ length: 30 }, (_, i) => expected(i)), 'lookups racing the writes left nothing stale behind')

    store = await fixture.restart()
    t.same(await store.member(G, 'bob'), { user: 'bob', role: 'member', joinedSeq: 42 }, 'a new instance reads the add back')
    t.equal(await store.member(G, 'carol'), undefined, 'and the remove')
    const reread = await Promise.all(Array.from({ length: 30 }, (_, i) => store.member(G, `racer${i}`)))
    t.same(reread.map(m => m !== undefined), Array.from({ length: 30 }, (_, i) => expected(i)))
    t.same((await store.members(G)).map(m => m.user).sort(), ['alice', 'bob', 'dave', ...Array.from({ length: 15 }, (_, i) => `racer${2 * i + 1}`)].sort())
  })

  t.test('setRole() and rename() are seen at once and after a restart', async (t) => {
    const fixture = await factory(t)
    let store = fixture.store
    await setUp(store)
    t.equal(await store.setRole(G, 'carol', 'admin'), true)
    t.equal((await store.member(G, 'carol'))?.role, 'admin')
    t.equal(await store.setRole(G, 'nobody', 'admin'), false, 'no such member')
    await store.rename(G, 'renamed')
    t.equal((await store.get(G))?.name, 'renamed')
    await store.rename(C, null)
    t.notOk('name' in ((await store.get(C)) ?? {}), 'rename(null) removes the name')
    store = await fixture.restart()
    t.same(await store.member(G, 'carol'), { user: 'carol', role: 'admin', joinedSeq: 0 })
    t.same(await store.conversationsOf('carol'), [{ conv: G, role: 'admin' }], 'the user side has the new role too')
    t.equal((await store.get(G))?.name, 'renamed')
    t.notOk('name' in ((await store.get(C)) ?? {}))
  })

  t.test('writes to a missing conversation reject with HAIL_ERR_NOT_FOUND', async (t) => {
    const { store } = await factory(t)
    const code = 'HAIL_ERR_NOT_FOUND'
    await t.rejects(store.addMember(G, { user: 'bob', role: 'member' }), { code })
    await t.rejects(store.removeMember(G, 'bob'), { code })
    await t.rejects(store.setRole(G, 'bob', 'admin'), { code })
    await t.rejects(store.rename(G, 'x'), { code })
    t.equal(await store.delete(G), false)
  })

  t.test('allMemberships() walks every membership of every conversation', async (t) => {
    const { store } = await factory(t)
    await setUp(store)
    const all = []
    for await (const membership of store.allMemberships()) all.push(membership)
    t.same(all, [
      { conv: C, user: 'alice', role: 'owner', joinedSeq: 0 },
      { conv: C, user: 'erin', role: 'follower', joinedSeq: 0 },
      { conv: C, user: 'frank', role: 'follower', joinedSeq: 0 },
      { conv: D, user: 'alice', role: 'member', joinedSeq: 0 },
      { conv: D, user: 'bob', role: 'member', joinedSeq: 0 },
      { conv: G, user: 'alice', role: 'owner', joinedSeq: 0 },
      { conv: G, user: 'carol', role: 'member', joinedSeq: 0 },
      { conv: G, user: 'dave', role: 'member', joinedSeq: 5 }
    ])
  })

  t.test('a channel keeps its public flag', async (t) => {
    const fixture = await factory(t)
    await fixture.store.create(C, { createdBy: 'alice', createdAt: 3, name: 'news', public: false }, [{ user: 'alice', role: 'owner' }])
    const store = await fixture.restart()
    t.same(await store.get(C), { id: C, type: 'channel', name: 'news', public: false, createdBy: 'alice', createdAt: 3 })
    await store.rename(C, 'renamed')
    t.equal((await store.get(C))?.public, false, 'rename() keeps it')
  })

  t.test('conversationsOf() lists every conversation of a user with their role', async (t) => {
    const { store } = await factory(t)
    await setUp(store)
    t.same(await store.conversationsOf('alice'), [{ conv: C, role: 'owner' }, { conv: D, role: 'member' }, { conv: G, role: 'owner' }])
    t.same(await store.conversationsOf('erin'), [{ conv: C, role: 'follower' }])
    t.same(await store.conversationsOf('zoe'), [])
    await store.addMember(G, { user: 'erin', role: 'member' })
    t.same(await store.conversationsOf('erin'), [{ conv: C, role: 'follower' }, { conv: G, role: 'member' }])
    await store.removeMember(C, 'erin')
    t.same(await store.conversationsOf('erin'), [{ conv: G, role: 'member' }])
  })

  t.test('contacts are the users sharing a direct or group conversation, and follow every change', async (t) => {
    const fixture = await factory(t)
    let store = fixture.store
    await setUp(store)
    t.same(sorted(await store.contactsOf('alice')), ['bob', 'carol', 'dave'], 'channel followers are no contacts')
    t.same(sorted(await store.contactsOf('erin')), [], 'nor are channel owners to followers')
    t.equal(await store.sharesConversation('bob', 'alice'), true)
    t.equal(await store.sharesConversation('bob', 'carol'), false)
    t.equal(await store.sharesConversation('erin', 'alice'), false)

    await store.removeMember(G, 'dave')
    t.same(sorted(await store.contactsOf('alice')), ['bob', 'carol'], 'a member who left is no contact')
    t.same(sorted(await store.contactsOf('dave')), [], 'and has none')
    t.equal(await store.sharesConversation('carol', 'dave'), false)

    await store.create(G2, { createdBy: 'carol' }, [{ user: 'carol', role: 'owner' }, { user: 'erin', role: 'member' }])
    t.same(sorted(await store.contactsOf('carol')), ['alice', 'erin'], 'a new group adds contacts')
    t.equal(await store.sharesConversation('erin', 'carol'), true)
    await store.addMember(G2, { user: 'dave', role: 'member' })
    t.same(sorted(await store.contactsOf('erin')), ['carol', 'dave'], 'contacts of the other members follow an add')

    store = await fixture.restart()
    t.same(sorted(await store.contactsOf('carol')), ['alice', 'dave', 'erin'], 'after a restart')
    await store.delete(G2)
    t.same(sorted(await store.contactsOf('carol')), ['alice'], 'a deleted group takes its contacts along')
    t.same(sorted(await store.contactsOf('erin')), [])
  })

  t.test('delete() removes the conversation and every membership, for good', async (t) => {
    const fixture = await factory(t)
    let store = fixture.store
    await setUp(store)
    t.equal(await store.member(C, 'erin') !== undefined, true)
    t.equal(await store.delete(C), true)
    t.equal(await store.get(C), undefined)
    t.equal(await store.member(C, 'erin'), undefined)
    t.same(await store.members(C), [])
    t.same(await store.conversationsOf('erin'), [])
    t.equal(await store.delete(C), false, 'deleting again resolves false')
    store = await fixture.restart()
    t.equal(await store.get(C), undefined)
    t.equal(await store.member(C, 'alice'), undefined)
    t.same((await store.conversationsOf('alice')).map(m => m.conv), [D, G])
    t.equal(await store.create(C, { createdBy: 'bob' }, [{ user: 'bob', role: 'owner' }]), true, 'the id may be used again')
    t.same(await store.members(C), [{ user: 'bob', role: 'owner', joinedSeq: 0 }], 'with nobody from before')
  })

  t.test('a channel with thousands of followers answers member() for each', async (t) => {
    const fixture = await factory(t)
    let store = fixture.store
    const followers = Array.from({ length: 3000 }, (_, i) => ({ user: `f${i}`, role: 'follower' as const, joinedSeq: i }))
    await store.create(C, { createdBy: 'owner' }, [{ user: 'owner', role: 'owner' }, ...followers.slice(0, 1000)])
    await Promise.all(followers.slice(1000).map(f => store.addMember(C, f)))
    t.same(await store.member(C, 'f2999'), { user: 'f2999', role: 'follower', joinedSeq: 2999 })
    t.equal((await store.members(C)).length, 3001)
    store = await fixture.restart()
    t.same(await store.member(C, 'f1234'), { user: 'f1234', role: 'follower', joinedSeq: 1234 })
    t.equal(await store.member(C, 'f3000'), undefined)
    t.equal(await store.delete(C), true, 'deleted in several batches')
    t.same(await store.conversationsOf('f17'), [])
    t.equal(await store.member(C, 'f2999'), undefined)
  })
}
