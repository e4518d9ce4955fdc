import type { Test } from 'tap'
import type { UserStore } from '../../../broker/users/user-store.js'

/** A store under test, and a way to restart it on the same data. */
export interface UserStoreFixture {
  store: UserStore
  /** Close the store and what it runs on, open the same data again, return the new store. */
  restart: () => Promise<UserStore>
}

/** Makes a fresh, empty store for one test and registers its cleanup with `t`. */
export type UserStoreFactory = (t: Test) => Promise<UserStoreFixture>

/** The conformance suite every UserStore implementation runs. */
export function userStoreSuite (t: Test, factory: UserStoreFactory): void {
  t.test('add() stores a user that get(), list() and verify() then see', async (t) => {
    const { store } = await factory(t)
    const before = Date.now()
    const added = await store.add('alice', 'correct horse')
    t.equal(added.name, 'alice')
    t.ok(added.created >= before && added.created <= Date.now(), 'created is the time of add()')
    t.type(added.stamp, 'string')
    t.same(await store.get('alice'), added, 'get() returns what add() returned')
    t.same(await store.list(), [added])
    t.equal(await store.verify('alice', 'correct horse'), true, 'the password verifies')
    t.equal(await store.verify('alice', Buffer.from('correct horse')), true, 'so do its UTF-8 bytes, as CONNECT carries them')
  })

  t.test('verify() is false for a wrong password, an unknown user and a malformed name', async (t) => {
    const { store } = await factory(t)
    await store.add('alice', 'correct horse')
    t.equal(await store.verify('alice', 'correct horse '), false)
    t.equal(await store.verify('alice', ''), false)
    t.equal(await store.verify('bob', 'correct horse'), false)
    t.equal(await store.verify('Alice', 'correct horse'), false)
    t.equal(await store.verify('alice/phone', 'correct horse'), false)
  })

  t.test('a non-ASCII password verifies as typed and not in another normalisation', async (t) => {
    const { store } = await factory(t)
    await store.add('zoe', 'pâté 🔑')
    t.equal(await store.verify('zoe', 'pâté 🔑'), true)
    t.equal(await store.verify('zoe', 'pa\u0302te\u0301 🔑'), false, 'decomposed accents are other bytes')
  })

  t.test('add() of a name that exists rejects with HAIL_ERR_USER_EXISTS and keeps the first password', async (t) => {
    const { store } = await factory(t)
    await store.add('alice', 'first')
    await t.rejects(store.add('alice', 'second'), { code: 'HAIL_ERR_USER_EXISTS', message: /alice/ })
    t.equal(await store.verify('alice', 'first'), true)
    t.equal(await store.verify('alice', 'second'), false)
  })

  t.test('of two concurrent add() calls for one name exactly one succeeds', async (t) => {
    const { store } = await factory(t)
    const results = await Promise.allSettled([store.add('bob', 'one'), store.add('bob', 'two')])
    t.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
    const failed = results.find((r) => r.status === 'rejected')
    t.match(failed?.reason, { code: 'HAIL_ERR_USER_EXISTS' })
    t.equal((await store.list()).length, 1)
  })

  t.test('names that could not be a client id prefix, a conversation id part or a topic level are refused with HAIL_ERR_BAD_NAME', async (t) => {
    const { store } = await factory(t)
    for (const name of ['', 'Alice', 'a/b', 'a:b', 'a+b', '#', 'a#', '+', '-a', '.a', '_a', 'a b', ' a', 'é', 'a'.repeat(65), 'a\u0000']) {
      await t.rejects(store.add(name, 'pw'), { code: 'HAIL_ERR_BAD_NAME' }, `'${name}' is refused`)
    }
    for (const name of ['a', '0', 'a.b-c_d', '0-9', 'a'.repeat(64)]) {
      t.equal((await store.add(name, 'pw')).name, name, `'${name}' is a user name`)
    }
    await t.rejects(store.add('Alice', 'pw'), { message: /lowercase/ }, 'an uppercase name is told why')
  })

  t.test('an empty password, one over 1024 bytes and one that looks like a token are refused with HAIL_ERR_BAD_PASSWORD', async (t) => {
    const { store } = await factory(t)
    await t.rejects(store.add('alice', ''), { code: 'HAIL_ERR_BAD_PASSWORD', message: /empty/ })
    await t.rejects(store.add('alice', 'x'.repeat(1025)), { code: 'HAIL_ERR_BAD_PASSWORD' })
    await t.rejects(store.add('alice', 'hail1.whatever'), { code: 'HAIL_ERR_BAD_PASSWORD', message: /token/ })
    t.equal(await store.get('alice'), undefined, 'no user was made')
    t.ok(await store.add('alice', 'x'.repeat(1024)), '1024 bytes is fine')
  })

  t.test('setPassword() replaces the password and the stamp', async (t) => {
    const { store } = await factory(t)
    const before = await store.add('alice', 'old')
    await store.setPassword('alice', 'new')
    t.equal(await store.verify('alice', 'old'), false, 'the old password no longer verifies')
    t.equal(await store.verify('alice', 'new'), true, 'the new one does')
    const after = await store.get('alice')
    t.not(after?.stamp, before.stamp, 'a new stamp revokes tokens issued before')
    t.equal(after?.created, before.created, 'created stays')
    await t.rejects(store.setPassword('bob', 'pw'), { code: 'HAIL_ERR_NO_USER' })
    await t.rejects(store.setPassword('alice', ''), { code: 'HAIL_ERR_BAD_PASSWORD' })
    await t.rejects(store.setPassword('Al/ice', 'pw'), { code: 'HAIL_ERR_BAD_NAME' })
  })

  t.test('delete() removes the user; deleting it again rejects with HAIL_ERR_NO_USER', async (t) => {
    const { store } = await factory(t)
    await store.add('alice', 'pw')
    await store.add('bob', 'pw')
    await store.delete('alice')
    t.equal(await store.get('alice'), undefined)
    t.equal(await store.verify('alice', 'pw'), false)
    t.same((await store.list()).map((u) => u.name), ['bob'])
    await t.rejects(store.delete('alice'), { code: 'HAIL_ERR_NO_USER' })
  })

  t.test('a user deleted and added again gets a new stamp', async (t) => {
    const { store } = await factory(t)
    const first = await store.add('alice', 'pw')
    await store.delete('alice')
    const second = await store.add('alice', 'pw')
    t.not(second.stamp, first.stamp)
  })

  t.test('the admin flag: off by default, set at add(), changed by setAdmin() without touching password or stamp', async (t) => {
    const fixture = await factory(t)
    const { store } = fixture
    const alice = await store.add('alice', 'pw')
    t.equal(alice.admin, false, 'a user is not an admin unless asked')
    const root = await store.add('root', 'pw', { admin: true })
    t.equal(root.admin, true)
    t.equal((await store.get('root'))?.admin, true)
    await store.setAdmin('alice', true)
    const after = await store.get('alice')
    t.equal(after?.admin, true)
    t.equal(after?.stamp, alice.stamp, 'tokens stay valid')
    t.equal(await store.verify('alice', 'pw'), true, 'the password stays')
    await store.setAdmin('root', false)
    t.same((await store.list()).map((u) => [u.name, u.admin]), [['alice', true], ['root', false]])
    await t.rejects(store.setAdmin('zed', true), { code: 'HAIL_ERR_NO_USER' })
    await t.rejects(store.setAdmin('Zed', true), { code: 'HAIL_ERR_BAD_NAME' })
    const restarted = await fixture.restart()
    t.equal((await restarted.get('alice'))?.admin, true, 'the flag survives a restart')
    t.equal((await restarted.get('root'))?.admin, false)
  })

  t.test('list() returns every user ordered by name', async (t) => {
    const { store } = await factory(t)
    t.same(await store.list(), [], 'an empty store lists nobody')
    for (const name of ['carol', 'alice', 'bob', 'a.z', 'a-z']) await store.add(name, 'pw')
    t.same((await store.list()).map((u) => u.name), ['a-z', 'a.z', 'alice', 'bob', 'carol'])
  })

  t.test('get() of a malformed name is undefined, not an error', async (t) => {
    const { store } = await factory(t)
    t.equal(await store.get('a/b'), undefined)
    t.equal(await store.get(''), undefined)
  })

  t.test('signingSecret() is 32 random bytes, the same on every call, also from concurrent first calls', async (t) => {
    const { store } = await factory(t)
    const [a, b] = await Promise.all([store.signingSecret(), store.signingSecret()])
    t.equal(a.length, 32)
    t.same(a, b)
    t.same(await store.signingSecret(), a)
    t.not(a.toString('hex'), Buffer.alloc(32).toString('hex'))
  })

  t.test('users, passwords and the signing secret survive a restart', async (t) => {
    const fixture = await factory(t)
    const added = await fixture.store.add('alice', 'pw')
    await fixture.store.add('bob', 'pw2')
    await fixture.store.delete('bob')
    const secret = await fixture.store.signingSecret()
    const store = await fixture.restart()
    t.same(await store.get('alice'), added)
    t.equal(await store.get('bob'), undefined)
    t.equal(await store.verify('alice', 'pw'), true)
    t.same(await store.signingSecret(), secret, 'tokens issued before the restart still verify')
  })
}
