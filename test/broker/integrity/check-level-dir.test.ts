import t, { type Test } from 'tap'
import { mkdtemp, open, readdir, readFile, rm, stat, truncate, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { checkLevelDir } from '../../../broker/integrity/check-level-dir.js'
import { DataSeal, sealsOfBatch } from '../../../broker/integrity/data-seal.js'
import { readLog } from '../../../broker/integrity/level-log.js'
import { GroupCommit } from '../../../broker/storage/index.js'

/**
 * A real LevelDB directory written through a sealed group commit: `tables`
 * batches reopened once (so LevelDB turns its log into a table), then
 * `logged` batches left in the write-ahead log.
 */
async function written (t: Test, tables: number, logged: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-check-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const [round, count] of [[0, tables], [1, logged]] as const) {
    const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
    await db.open()
    const { seal } = await DataSeal.open(db, dir)
    const gc = new GroupCommit(db, { seal })
    for (let i = 0; i < count; i++) {
      await gc.write([{ type: 'put', key: `!s!${round}:${String(i).padStart(6, '0')}`, value: Buffer.from(`value ${i} `.repeat(20)) }])
    }
    await seal.close()
    await db.close()
  }
  return dir
}

async function fileOf (dir: string, suffix: string): Promise<string> {
  return join(dir, (await readdir(dir)).filter((name) => name.endsWith(suffix)).sort().at(-1)!)
}

async function overwrite (path: string, at: number, bytes: Buffer): Promise<void> {
  const file = await open(path, 'r+')
  await file.write(bytes, 0, bytes.length, at)
  await file.close()
}

t.test('a directory written and closed by LevelDB is whole; a new one is empty', async (t) => {
  const dir = await written(t, 500, 500)
  const check = await checkLevelDir(dir)
  t.match(check, { empty: false, damage: [], notes: [], gaps: [] })
  t.ok(check.tables !== undefined && check.tables.size > 0, 'and names the tables it verified')
  t.same(await checkLevelDir(join(dir, 'nowhere')), { empty: true, damage: [], notes: [], gaps: [] })
})

t.test('a checksum mismatch inside the write-ahead log is damage, and the seal numbers name the batches it held', async (t) => {
  const dir = await written(t, 10, 1000)
  const log = await fileOf(dir, '.log')
  await overwrite(log, Math.floor((await stat(log)).size / 2), Buffer.from('garbled'))
  const check = await checkLevelDir(dir)
  t.match(check.damage[0], { file: log.slice(dir.length + 1), what: /^checksum mismatch at byte \d+ of \d+$/ })
  t.equal(check.gaps.length, 1, 'one stretch of batches is missing')
  t.ok(check.gaps[0]!.to >= check.gaps[0]!.from && check.gaps[0]!.writes === check.gaps[0]!.to - check.gaps[0]!.from + 1, 'with its batches and writes')
})

t.test('a zeroed stretch, which LevelDB skips without a word, is damage', async (t) => {
  const dir = await written(t, 10, 1000)
  const log = await fileOf(dir, '.log')
  await overwrite(log, Math.floor((await stat(log)).size / 3), Buffer.alloc(4096))
  t.ok((await checkLevelDir(dir)).damage.length > 0)
})

t.test('a log cut short is only a note: a crash leaves one too (the seal tells them apart)', async (t) => {
  const dir = await written(t, 10, 1000)
  const log = await fileOf(dir, '.log')
  await truncate(log, Math.floor((await stat(log)).size / 2) + 3)
  const check = await checkLevelDir(dir)
  t.same(check.damage, [])
  t.match(check.notes, [{ file: log.slice(dir.length + 1), what: /^record cut short at byte \d+$/ }])
})

t.test('a missing CURRENT, a garbled table block and a table of the wrong size are damage', async (t) => {
  const dir = await written(t, 2000, 10)
  const table = await fileOf(dir, '.ldb')
  const size = (await stat(table)).size
  await overwrite(table, Math.floor(size / 2), Buffer.from('garbled'))
  t.match((await checkLevelDir(dir)).damage, [{ file: table.slice(dir.length + 1), what: /^data block at \d+: checksum mismatch$/ }])
  await truncate(table, size - 10)
  t.match((await checkLevelDir(dir)).damage, [{ file: table.slice(dir.length + 1), what: `${size - 10} bytes where the MANIFEST recorded ${size}` }])
  await unlink(table)
  t.match((await checkLevelDir(dir)).damage, [{ file: table.slice(dir.length + 1), what: 'missing (the MANIFEST lists it)' }])
  await unlink(join(dir, 'CURRENT'))
  t.match((await checkLevelDir(dir)).damage, [{ file: 'CURRENT', what: /^missing, yet/ }])
})

t.test('a table verified before is not read again unless it changed: writing to it changes its stamp', async (t) => {
  const dir = await written(t, 2000, 10)
  const first = await checkLevelDir(dir)
  t.ok(first.tables !== undefined && first.tables.size > 0, 'the check returns the stamps of the tables it verified')
  t.same((await checkLevelDir(dir, { verified: first.tables })).damage, [], 'trusted, they still count as whole')
  const table = await fileOf(dir, '.ldb')
  await overwrite(table, Math.floor((await stat(table)).size / 2), Buffer.from('garbled'))
  t.match((await checkLevelDir(dir, { verified: first.tables })).damage, [{ file: table.slice(dir.length + 1), what: /checksum mismatch/ }], 'a table written to since is read again')
})

t.test('batches that reached the log out of their numbers\' order are no gap (a crash test saw #21 after #22)', async (t) => {
  const dir = await written(t, 0, 5)
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  await db.open()
  const { seal } = await DataSeal.open(db, dir)
  // Three batches numbered n, n+1, n+2 and written n, n+2, n+1, as concurrent writers may.
  const numbered = [0, 1, 2].map(() => {
    const op = seal.next(1)
    seal.committed()
    return op
  })
  for (const i of [0, 2, 1]) await db.batch([{ type: 'put', key: `!s!${i}`, value: Buffer.from('x') }, numbered[i]!] as never, { sync: true } as never)
  await seal.close()
  await db.close()
  const check = await checkLevelDir(dir)
  t.same(check.gaps, [], 'every number is in the log: no gap')
  t.same(check.damage, [], 'no damage')
})

t.test('a sealed batch that LevelDB merged with writers queued behind it keeps its number (kill -9 made the daemon refuse its own directory)', async (t) => {
  const dir = await written(t, 0, 0)
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  await db.open()
  const { seal } = await DataSeal.open(db, dir)
  const sealed = new GroupCommit(db, { seal })
  // Unsynced writers, as the journal's deletes and the receipt store are: LevelDB
  // folds those queued behind a synced batch into its log record.
  const loose = [1, 2, 3].map(() => new GroupCommit(db, { sync: false }))
  let stop = false
  const flood = Promise.all(loose.map(async (gc, w) => {
    for (let i = 0; !stop; i++) await gc.write([{ type: 'del', key: `!x!${w}:${i}` }])
  }))
  const N = 1000
  for (let i = 0; i < N; i++) await sealed.write([{ type: 'put', key: `!s!${i}`, value: Buffer.from('x') }])
  stop = true
  await flood
  await seal.close()
  // What a kill -9 leaves: the log not yet turned into a table.
  const log = readLog(await readFile(await fileOf(dir, '.log')))
  const numbers = log.records.flatMap((record) => sealsOfBatch(record).map((s) => s.batch))
  const merged = log.records.filter((record) => sealsOfBatch(record).length > 0 && !record.subarray(-27).includes(Buffer.from('hail-seal'))).length
  await db.close()
  t.same(numbers.sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i + 1), 'every batch number is read from the log')
  t.comment(`${merged} of ${N} sealed batches shared a log record with writes queued behind them`)
  const check = await checkLevelDir(dir)
  t.same(check.gaps, [], 'no gap')
  t.same(check.damage, [], 'no damage')
})

t.test('a seal is found wherever it stands in a write batch; a record that is no write batch is refused', async (t) => {
  const entry = (type: number, key: string, value?: Buffer): Buffer => Buffer.concat([
    Buffer.from([type, key.length]), Buffer.from(key),
    ...(value === undefined ? [] : [Buffer.from([value.length]), value])
  ])
  const header = (count: number): Buffer => {
    const b = Buffer.alloc(12)
    b.writeUInt32LE(count, 8)
    return b
  }
  const sealValue = Buffer.alloc(16)
  sealValue.writeUIntBE(7, 0, 6)
  sealValue.writeUIntBE(40, 6, 6)
  sealValue.writeUInt32BE(3, 12)
  const record = Buffer.concat([header(4), entry(1, '!a!1', Buffer.from('v')), entry(1, 'hail-seal', sealValue), entry(0, '!j!2'), entry(1, '!b!3', Buffer.from('w'))])
  t.same(sealsOfBatch(record), [{ batch: 7, writes: 40, own: 3 }], 'the seal in the middle of a merged record')
  t.same(sealsOfBatch(Buffer.concat([header(1), entry(1, 'hail-seal', Buffer.from('short'))])), [], 'a hail-seal key without a 16-byte value is no seal')
  t.throws(() => sealsOfBatch(Buffer.concat([header(2), entry(1, '!a!1', Buffer.from('v'))])), /unexpected end/, 'fewer entries than the count')
  t.throws(() => sealsOfBatch(Buffer.concat([header(1), Buffer.from([9, 1, 65])])), /unknown type 9/)
  t.throws(() => sealsOfBatch(Buffer.alloc(5)), /shorter than a write batch header/)
})
