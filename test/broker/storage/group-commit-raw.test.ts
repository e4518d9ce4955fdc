// GroupCommit's raw batch (broker/storage/group-commit.ts): batches of a
// classic-level root go to its private _batch, encoded and prefixed by Hail.
// The tripwire: the bytes on disk must be exactly those abstract-level's
// public batch() writes, and anything the raw path does not cover must still
// go through batch().
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Level } from 'level'
import { GroupCommit, rawBatch, type GroupCommitOperation } from '../../../broker/storage/group-commit.js'

const root = await mkdtemp(join(tmpdir(), 'hail-group-commit-raw-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let dirs = 0

async function open (): Promise<Level<string, Buffer>> {
  const db = new Level<string, Buffer>(join(root, String(dirs++)), { valueEncoding: 'buffer' })
  await db.open()
  return db
}

/** Counts the calls of the public batch(): the raw path makes none. */
function countBatches (db: Level<string, Buffer>): { calls: number } {
  const count = { calls: 0 }
  const batch = db.batch.bind(db) as (...args: unknown[]) => unknown
  ;(db as unknown as { batch: (...args: unknown[]) => unknown }).batch = (...args: unknown[]) => { count.calls++; return batch(...args) }
  return count
}

/** Every key and value of the database as stored, in order. */
async function raw (db: Level<string, Buffer>): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = []
  for await (const [k, v] of db.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer' })) {
    out.push([(k as unknown as Buffer).toString('hex'), (v as Buffer).toString('hex')])
  }
  return out
}

/** The shapes Hail writes: sublevels two deep, utf8 and buffer keys and values, deletes, a root key. */
function operations (db: Level<string, Buffer>): GroupCommitOperation[][] {
  const journal = db.sublevel('journal')
  const queue = db.sublevel('queues').sublevel('alice', { keyEncoding: 'buffer' })
  const utf8 = { keyEncoding: 'utf8', valueEncoding: 'utf8' }
  return [
    [
      { type: 'put', key: 'e-000001', value: Buffer.from([1, 2, 3]), sublevel: journal, keyEncoding: 'utf8', valueEncoding: 'buffer' },
      { type: 'put', key: 'high-water', value: 'e-000001', sublevel: journal, ...utf8 },
      { type: 'put', key: Buffer.from([0xff, 0, 7]), value: 'ünïcødé ✓', sublevel: queue, keyEncoding: 'buffer', valueEncoding: 'utf8' },
      { type: 'put', key: 'seal', value: Buffer.from('root value'), keyEncoding: 'utf8', valueEncoding: 'buffer' }
    ],
    [
      { type: 'del', key: 'e-000001', sublevel: journal, keyEncoding: 'utf8' },
      { type: 'put', key: 'e-000002', value: Buffer.alloc(0), sublevel: journal, keyEncoding: 'utf8', valueEncoding: 'buffer' },
      { type: 'del', key: Buffer.from([0xff, 0, 7]), sublevel: queue, keyEncoding: 'buffer' },
      { type: 'put', key: 'x', value: '', sublevel: db.sublevel('empty'), ...utf8 }
    ]
  ]
}

t.test('the raw path writes the very bytes batch() writes, without calling batch()', async (t) => {
  const viaRaw = await open()
  const viaPublic = await open()
  t.teardown(async () => { await viaRaw.close(); await viaPublic.close() })
  t.ok(rawBatch(viaRaw) !== undefined, 'a classic-level root has the internals the raw path uses (_batch, hooks, status)')
  const count = countBatches(viaRaw)
  const commit = new GroupCommit(viaRaw)
  for (const ops of operations(viaRaw)) await commit.write(ops)
  for (const ops of operations(viaPublic)) await viaPublic.batch(ops as never)
  t.equal(count.calls, 0, 'every batch went to the private _batch')
  const stored = await raw(viaRaw)
  t.same(stored, await raw(viaPublic), 'the same keys and values on disk')
  t.equal(stored.length, 4, 'two puts deleted, four left')
  t.same(await viaRaw.sublevel('journal').get('e-000002', { valueEncoding: 'buffer' }), Buffer.alloc(0), 'and readable through the sublevel as before')
})

t.test('what the raw path does not cover still goes through batch()', async (t) => {
  const db = await open()
  t.teardown(async () => await db.close())
  const count = countBatches(db)
  const commit = new GroupCommit(db)
  // an encoding the raw path does not write itself (json), or none spelled out
  await commit.write([{ type: 'put', key: 'j', value: { a: 1 }, sublevel: db.sublevel('s', { valueEncoding: 'json' }), keyEncoding: 'utf8', valueEncoding: 'json' }])
  await commit.write([{ type: 'put', key: 'd', value: 'default', sublevel: db.sublevel('s', { valueEncoding: 'json' }) }])
  t.equal(count.calls, 2)
  t.same(await db.sublevel<string, unknown>('s', { valueEncoding: 'json' }).get('j'), { a: 1 })
  t.equal(await db.sublevel<string, unknown>('s', { valueEncoding: 'json' }).get('d'), 'default')
  // write listeners and prewrite hooks see every write
  const seen: unknown[] = []
  const listener = (ops: unknown[]): void => { seen.push(...ops) }
  db.on('write', listener)
  await commit.write([{ type: 'put', key: 'w', value: 'v', keyEncoding: 'utf8', valueEncoding: 'utf8' }])
  db.off('write', listener)
  t.equal(count.calls, 3, 'a write listener sends the batch through batch()')
  t.equal(seen.length, 1, 'and the listener saw it')
  await commit.write([{ type: 'put', key: 'w2', value: 'v', keyEncoding: 'utf8', valueEncoding: 'utf8' }])
  t.equal(count.calls, 3, 'without it the raw path again')
  t.equal(rawBatch(db.sublevel('s') as never), undefined, 'a sublevel is no root: no raw path')
})

t.test('a closed database refuses through batch(), as before', async (t) => {
  const db = await open()
  const commit = new GroupCommit(db)
  await db.close()
  await t.rejects(commit.write([{ type: 'put', key: 'k', value: 'v', keyEncoding: 'utf8', valueEncoding: 'utf8' }]), { code: 'HAIL_ERR_STORE' })
})
