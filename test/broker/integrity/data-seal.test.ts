import t, { type Test } from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { DataSeal, SEAL_FILE } from '../../../broker/integrity/data-seal.js'
import { GroupCommit } from '../../../broker/storage/index.js'

async function database (t: Test): Promise<{ dir: string, db: Level<string, Buffer> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-seal-'))
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  await db.open()
  t.teardown(async () => {
    await db.close()
    await rm(dir, { recursive: true, force: true })
  })
  return { dir, db }
}

t.test('each synced batch carries the seal; at close the mark names the last one', async (t) => {
  const { dir, db } = await database(t)
  const { seal, lost } = await DataSeal.open(db, dir)
  t.equal(lost, undefined, 'a new database has nothing missing')
  let batches = 0
  let writes = 0
  const gc = new GroupCommit(db, { seal, onBatch: (count) => { batches++; writes += count } })
  await Promise.all(Array.from({ length: 10 }, (_, i) => gc.write([{ type: 'put', key: `a${i}`, value: Buffer.from('x') }])))
  for (let i = 0; i < 5; i++) await gc.write([{ type: 'put', key: `b${i}`, value: Buffer.from('y') }])
  await seal.close()
  t.same(seal.state, { batch: batches, writes }, `the seal counts ${batches} batches of ${writes} writes`)
  t.match(JSON.parse(await readFile(join(dir, SEAL_FILE), 'utf8')), { batch: batches, writes }, 'and so does the mark')
  t.same((await DataSeal.open(db, dir)).lost, undefined, 'the database holds what its mark says')
})

t.test('a database behind its mark is reported with how much is missing', async (t) => {
  const { dir, db } = await database(t)
  const { seal } = await DataSeal.open(db, dir)
  const gc = new GroupCommit(db, { seal })
  for (let i = 0; i < 3; i++) await gc.write([{ type: 'put', key: `k${i}`, value: Buffer.from('x') }])
  await seal.close()
  await writeFile(join(dir, SEAL_FILE), JSON.stringify({ batch: 8, writes: 9 }))
  const { lost } = await DataSeal.open(db, dir)
  t.match(lost, { file: 'write-ahead log', what: 'the database holds write batches up to #3, but #8 had reached disk: 5 batches (6 writes) are missing' })
  await writeFile(join(dir, SEAL_FILE), '{"batch":')
  t.match((await DataSeal.open(db, dir)).lost, { file: SEAL_FILE, what: /^unreadable/ }, 'an unreadable mark is reported too')
  await DataSeal.accept(db, dir)
  t.same((await DataSeal.open(db, dir)).lost, undefined, 'accept() sets the mark to what the database holds')
})

t.test('a batch that fails leaves no gap in the numbers', async (t) => {
  const { dir, db } = await database(t)
  const { seal } = await DataSeal.open(db, dir)
  const gc = new GroupCommit(db, { seal })
  await gc.write([{ type: 'put', key: 'a', value: Buffer.from('x') }])
  await t.rejects(gc.write([{ type: 'put', key: 'b', value: { toJSON: () => { throw new Error('unencodable') } } as unknown as Buffer, valueEncoding: 'json' }]))
  await gc.write([{ type: 'put', key: 'c', value: Buffer.from('x') }])
  t.equal(seal.state.batch, 2, 'two batches reached disk, numbered 1 and 2')
  await seal.close()
})
