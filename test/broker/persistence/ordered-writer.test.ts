import t from 'tap'
import type { LevelDatabase } from '../../../broker/storage/index.js'
import { del, OrderedWriter, put, type WriterOperation } from '../../../broker/persistence/ordered-writer.js'

/** A database that records each batch and lands it when told to. */
function fakeDb () {
  const batches: Array<{ ops: WriterOperation[], land: () => void, fail: (err: Error) => void }> = []
  const db = {
    batch: (ops: WriterOperation[]) => new Promise<void>((resolve, reject) => {
      batches.push({ ops: ops.map(op => ({ ...op })), land: resolve, fail: reject })
    })
  }
  return { db: db as unknown as LevelDatabase, batches }
}

const queue = { prefix: '!q!' } as unknown as LevelDatabase
const index = { prefix: '!m!' } as unknown as LevelDatabase

async function settle (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
}

t.test('writes issued while a batch is written go together in the next, in issue order, the last per key alone', async (t) => {
  const { db, batches } = fakeDb()
  const writer = new OrderedWriter(db, () => t.fail('no failure'))
  const first = writer.write([put(queue, 'a:1', Buffer.from('one'))])
  await settle()
  t.equal(batches.length, 1)
  let encoded = 0
  const second = writer.write([put(queue, 'a:2', () => { encoded++; return Buffer.from('two') }), put(index, 'a:7', '2')])
  const third = writer.write([del(index, 'a:7'), del(queue, 'a:2'), put(index, 'a:2', 'x')])
  await settle()
  t.equal(batches.length, 1, 'nothing overtakes the batch being written')
  batches[0].land()
  await first
  await settle()
  t.equal(batches.length, 2)
  t.same(batches[1].ops.map(op => [op.type, (op as { sublevel: { prefix: string } }).sublevel.prefix + op.key]),
    [['del', '!m!a:7'], ['del', '!q!a:2'], ['put', '!m!a:2']],
    'a put then a del of one key in one batch is the del alone; keys of other sublevels are apart')
  t.equal(encoded, 0, 'a put whose value was never needed was never encoded')
  batches[1].land()
  await Promise.all([second, third])
})

t.test('a write nobody waits for lingers for company, and flush() hurries it', async (t) => {
  const { db, batches } = fakeDb()
  const writer = new OrderedWriter(db, () => t.fail('no failure'))
  const lazy = writer.write([del(queue, 'a:1')], false)
  // microtasks only: an urgent write would have started by now, a timer cannot fire
  for (let i = 0; i < 10; i++) await Promise.resolve()
  t.equal(batches.length, 0, 'not written yet')
  const flushed = writer.flush()
  await settle()
  t.equal(batches.length, 1, 'flush() starts it')
  batches[0].land()
  await lazy
  await flushed
  const later = writer.write([del(queue, 'a:2')], false)
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(batches.length, 2, 'and without a flush it goes after its short wait')
  batches[1].land()
  await later
})

t.test('a failed batch fails every write queued behind it, then reports, and later writes go on', async (t) => {
  const { db, batches } = fakeDb()
  const failures: Error[] = []
  const writer = new OrderedWriter(db, err => failures.push(err))
  const first = writer.write([put(queue, 'a:1', 'one')])
  await settle()
  const behind = writer.write([del(queue, 'a:1')])
  batches[0].fail(new Error('disk full'))
  await t.rejects(first, { code: 'HAIL_ERR_STORE' })
  await t.rejects(behind, { code: 'HAIL_ERR_STORE' }, 'computed as if the failed one had landed, so not written')
  t.equal(failures.length, 1)
  t.equal(batches.length, 1, 'the write behind it never reached the database')
  const after = writer.write([put(queue, 'a:2', 'two')])
  await settle()
  batches[1].land()
  await after
  t.pass('a write after the failure lands')
})
