import type { Test } from 'tap'
import type { RecallIndex } from '../../../../broker/im/store/recall-index.js'
import { StoreInputError } from '../../../../broker/im/store/errors.js'
import type { StoreFactory } from './store-fixture.js'

const bySeq = (a: { conv: string, seq: number }, b: { conv: string, seq: number }): number => a.conv.localeCompare(b.conv) || a.seq - b.seq

/** The conformance suite every RecallIndex implementation runs. */
export function recallIndexSuite (t: Test, factory: StoreFactory<RecallIndex>): void {
  t.test('add() records recalls, list() and size() give them back, kept across a restart', async (t) => {
    const fixture = await factory(t)
    let index = fixture.store
    t.same(await index.list(), [])
    t.equal(await index.size(), 0)
    await index.add('d:alice:bob', 1, { by: 'alice', seq: 5 })
    await index.add('d:alice:bob', 12, { by: 'bob', seq: 13 })
    await index.add('g:abcdefghijkl', 12, { by: 'carol', seq: 20 })
    t.equal(await index.size(), 3)
    index = await fixture.restart()
    t.same((await index.list()).sort(bySeq), [
      { conv: 'd:alice:bob', seq: 1, deleted: { by: 'alice', seq: 5 } },
      { conv: 'd:alice:bob', seq: 12, deleted: { by: 'bob', seq: 13 } },
      { conv: 'g:abcdefghijkl', seq: 12, deleted: { by: 'carol', seq: 20 } }
    ])
  })

  t.test('a second recall of a message keeps the first entry and the size', async (t) => {
    const { store: index } = await factory(t)
    await index.add('d:alice:bob', 1, { by: 'alice', seq: 5 })
    await Promise.all([index.add('d:alice:bob', 1, { by: 'bob', seq: 6 }), index.add('d:alice:bob', 1, { by: 'bob', seq: 7 })])
    t.same(await index.list(), [{ conv: 'd:alice:bob', seq: 1, deleted: { by: 'alice', seq: 5 } }])
    t.equal(await index.size(), 1)
  })

  t.test('bad input is refused with a StoreInputError and nothing stored', async (t) => {
    const { store: index } = await factory(t)
    await t.rejects(index.add('no spaces here', 1, { by: 'alice', seq: 2 }), StoreInputError)
    await t.rejects(index.add('d:alice:bob', -1, { by: 'alice', seq: 2 }), StoreInputError)
    await t.rejects(index.add('d:alice:bob', 1, { by: 'alice', seq: 1.5 }), StoreInputError)
    t.equal(await index.size(), 0)
  })
}
