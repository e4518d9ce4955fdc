import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Level } from 'level'
import { GroupCommit } from '../../../broker/storage/index.js'
import { LevelUserStore } from '../../../broker/users/level-user-store.js'
import type { ScryptParams } from '../../../broker/users/password-hash.js'
import { userStoreSuite, type UserStoreFactory } from './user-store.abstract.js'

/** Cheap hashing for tests: the format and the code path are the same at any cost. */
const cheap: ScryptParams = { N: 2 ** 10, r: 8, p: 1 }

async function openDb (t: Test): Promise<{ dir: string, open: () => Promise<Level<string, Buffer>> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-users-'))
  let db: Level<string, Buffer> | undefined
  t.teardown(async () => {
    await db?.close()
    await rm(dir, { recursive: true, force: true })
  })
  return {
    dir,
    open: async () => {
      await db?.close()
      db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
      await db.open()
      return db
    }
  }
}

const factory: UserStoreFactory = async (t) => {
  const { open } = await openDb(t)
  const make = async (scrypt = cheap): Promise<LevelUserStore> => {
    const db = await open()
    return LevelUserStore.inDatabase(db, { groupCommit: new GroupCommit(db), scrypt })
  }
  const fixture = {
    store: await make() as LevelUserStore,
    restart: async () => {
      fixture.store = await make()
      return fixture.store
    }
  }
  return fixture
}

userStoreSuite(t, factory)

/** The raw record of a user, as level holds it. */
async function record (db: Level<string, Buffer>, name: string): Promise<{ hash: string }> {
  const value = await db.sublevel('users').sublevel<string, string>('account', { valueEncoding: 'utf8' }).get(name)
  return JSON.parse(value!) as { hash: string }
}

t.test('the stored hash is scrypt with its parameters and a salt of its own, and never holds the password', async (t) => {
  const { open } = await openDb(t)
  const db = await open()
  const store = LevelUserStore.inDatabase(db, { groupCommit: new GroupCommit(db), scrypt: cheap })
  await store.add('alice', 'same password')
  await store.add('bob', 'same password')
  const a = (await record(db, 'alice')).hash
  const b = (await record(db, 'bob')).hash
  t.match(a, /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
  t.not(a, b, 'one password, two users: two salts, two hashes')
  t.notMatch(a, /same password/)
})

t.test('a hash made with older parameters still verifies, and a good login stores it again with the current ones', async (t) => {
  const { open } = await openDb(t)
  let db = await open()
  const old = LevelUserStore.inDatabase(db, { groupCommit: new GroupCommit(db), scrypt: { N: 2 ** 9, r: 4, p: 1 } })
  const { stamp } = await old.add('alice', 'pw')
  db = await open()
  const store = LevelUserStore.inDatabase(db, { groupCommit: new GroupCommit(db), scrypt: cheap })
  t.equal(await store.verify('alice', 'wrong'), false)
  t.match((await record(db, 'alice')).hash, /ln=9,r=4,p=1/, 'a failed login changes nothing')
  t.equal(await store.verify('alice', 'pw'), true)
  t.match((await record(db, 'alice')).hash, /ln=10,r=8,p=1/, 'rehashed at the good login')
  t.equal(await store.verify('alice', 'pw'), true)
  t.equal((await store.get('alice'))?.stamp, stamp, 'the password did not change, so its tokens stay valid')
})

t.test('a store on a database its group commit does not write to is refused', async (t) => {
  const one = await openDb(t)
  const two = await openDb(t)
  const db = await one.open()
  const other = await two.open()
  t.throws(() => LevelUserStore.inDatabase(db, { groupCommit: new GroupCommit(other) }), { code: 'HAIL_ERR_STORE' })
})
