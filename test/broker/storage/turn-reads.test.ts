import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import t, { type Test } from 'tap'
import { GroupCommit, LevelJson, TurnReads } from '../../../broker/storage/index.js'

async function store (t: Test): Promise<{ json: LevelJson, reads: () => number }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-turn-reads-'))
  const db = new Level<string, string>(dir)
  await db.open()
  t.teardown(async () => { await db.close(); await rm(dir, { recursive: true, force: true }) })
  const sub = db.sublevel<string, string>('s')
  let reads = 0
  // count what reaches level: the real database answers
  const getMany = sub.getMany.bind(sub)
  sub.getMany = ((keys: string[], options: object) => { reads++; return getMany(keys, options) }) as typeof sub.getMany
  return { json: new LevelJson(sub, new GroupCommit(db), 'test'), reads: () => reads }
}

t.test('the reads of one turn are one getMany, each caller gets its own keys', async (t) => {
  const { json, reads } = await store(t)
  await json.write([json.put('a', 1), json.put('c', 3), json.put('e', 5)])
  const turn = new TurnReads(json)
  const [x, y, z] = await Promise.all([
    turn.getMany<number>(['a', 'b']),
    turn.getMany<number>(['c']),
    turn.getMany<number>(['d', 'e', 'a'])
  ])
  t.same(x, [1, undefined])
  t.same(y, [3])
  t.same(z, [undefined, 5, 1])
  t.equal(reads(), 1, 'one read for the turn')
  t.same(await turn.getMany([]), [], 'no keys: no read')
  t.equal(reads(), 1)
  t.same(await turn.getMany(['e']), [5], 'a later turn reads again')
  t.equal(reads(), 2)
})

t.test('a read sees every write that resolved before it was asked', async (t) => {
  const { json } = await store(t)
  const turn = new TurnReads(json)
  for (let i = 0; i < 20; i++) {
    t.same(await turn.getMany([`k${i}`]), [undefined])
    await json.write([json.put(`k${i}`, i)])
    t.same(await turn.getMany([`k${i}`]), [i])
  }
})

t.test('a failed read fails every caller of its turn', async (t) => {
  const { json } = await store(t)
  await json.db.close()
  const turn = new TurnReads(json)
  const results = await Promise.allSettled([turn.getMany(['a']), turn.getMany(['b'])])
  t.same(results.map(r => r.status), ['rejected', 'rejected'])
})
