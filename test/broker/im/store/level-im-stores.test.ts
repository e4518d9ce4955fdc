import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { GroupCommit } from '../../../../broker/storage/index.js'
import { createLevelImStores } from '../../../../broker/im/store/level-im-stores.js'

t.test('createLevelImStores() puts every store on the server database, apart from each other', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-stores-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  let db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  let stores = createLevelImStores(db, new GroupCommit(db))
  const conv = 'g:aaaaaaaaaaaa'
  await stores.conversations.create(conv, { createdBy: 'alice' }, [{ user: 'alice', role: 'owner' }])
  await stores.log.append(conv, { from: 'alice', device: 'phone', cid: 'm1', kind: 'text', body: 'hi' })
  await stores.receipts.advance(conv, 'alice', 'read', 1)
  await stores.keys.put('alice', 'phone', { keyId: 'k1', alg: 'x25519', publicKey: 'AAAA', createdAt: 1 })
  await stores.close()
  await db.close()

  db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  stores = createLevelImStores(db, new GroupCommit(db))
  t.equal((await stores.conversations.member(conv, 'alice'))?.role, 'owner')
  t.equal((await stores.log.get(conv, 1))?.body, 'hi')
  t.same(await stores.receipts.get(conv, 'alice'), { delivered: 1, read: 1 }, 'close() flushed the unsynced receipts')
  t.equal((await stores.keys.list('alice')).length, 1)
  const names = new Set<string>()
  for await (const key of db.keys({ keyEncoding: 'utf8' })) names.add(String(key).split('!')[1])
  t.same([...names].sort(), ['im-conv', 'im-keys', 'im-log', 'im-receipts'], 'each store in its own sublevel')
  await stores.close()
  await db.close()
})
