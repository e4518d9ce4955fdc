import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import t from 'tap'
import { Level } from 'level'
import { GroupCommit } from '../../../broker/storage/index.js'

const root = await mkdtemp(join(tmpdir(), 'hail-group-commit-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let dirs = 0

async function openDb (dir = join(root, String(dirs++))): Promise<Level<string, string>> {
  const db = new Level<string, string>(dir)
  await db.open()
  return db
}

t.test('200 concurrent writes go to disk in far fewer synced batches, and are all there after a reopen', async (t) => {
  let db = await openDb()
  const dir = db.location
  const left = db.sublevel('left')
  const right = db.sublevel('right')
  const batches: number[] = []
  const group = new GroupCommit(db, { onBatch: (count) => { batches.push(count) } })

  const writes: Array<Promise<void>> = []
  for (let i = 0; i < 200; i++) {
    // arrive over several turns of the event loop, as publishes from many sockets do
    if (i % 25 === 0) await nextTurn()
    const sublevel = i % 2 === 0 ? left : right
    writes.push(group.write([{ type: 'put', sublevel, key: `k${String(i).padStart(3, '0')}`, value: `v${i}` }]))
  }
  await Promise.all(writes)

  t.ok(batches.length < 200, `${batches.length} batches for 200 writes`)
  t.equal(batches.reduce((a, b) => a + b, 0), 200, 'every write counted in exactly one batch')
  await db.close()

  db = await openDb(dir)
  const keys = [
    ...await db.sublevel('left').keys().all(),
    ...await db.sublevel('right').keys().all()
  ]
  t.equal(keys.length, 200, 'all 200 writes are on disk')
  t.equal(await db.sublevel('right').get('k199'), 'v199')
  await db.close()
})

t.test('a failing batch rejects every caller in it with StoreError, and the next batch works', async (t) => {
  const db = await openDb()
  // a prewrite hook that throws makes the whole batch fail inside level
  db.hooks.prewrite.add((op: { key: string }) => {
    if (op.key === 'poison') throw new Error('disk on fire')
  })
  const group = new GroupCommit(db)
  const failed = await Promise.allSettled([
    group.write([{ type: 'put', key: 'innocent', value: '1' }]),
    group.write([{ type: 'put', key: 'poison', value: '2' }])
  ])
  for (const result of failed) {
    t.equal(result.status, 'rejected')
    if (result.status === 'rejected') {
      t.equal(result.reason.code, 'HAIL_ERR_STORE')
      t.ok(result.reason.cause, 'carries the cause')
    }
  }
  t.equal(await db.get('innocent'), undefined, 'a failed batch writes nothing')

  await group.write([{ type: 'put', key: 'later', value: '3' }])
  t.equal(await db.get('later'), '3', 'the next batch is written')
  await db.close()
})

t.test('an invalid operation is refused alone and does not fail the batch it would have joined', async (t) => {
  const db = await openDb()
  const group = new GroupCommit(db)
  const [bad, good] = await Promise.allSettled([
    group.write([{ type: 'put', key: 'k', value: undefined }]),
    group.write([{ type: 'put', key: 'ok', value: 'yes' }])
  ])
  t.equal(bad.status, 'rejected')
  t.equal(good.status, 'fulfilled')
  t.equal(await db.get('ok'), 'yes')
  await db.close()
})

t.test('flush() waits for every write issued before it', async (t) => {
  const db = await openDb()
  const group = new GroupCommit(db)
  const settled: number[] = []
  for (let i = 0; i < 20; i++) {
    void group.write([{ type: 'put', key: `k${i}`, value: 'v' }]).then(() => settled.push(i))
  }
  await group.flush()
  t.equal(settled.length, 20)
  t.equal((await db.keys().all()).length, 20)
  await group.flush()
  t.pass('flush() with nothing in flight resolves')
  await db.close()
})
