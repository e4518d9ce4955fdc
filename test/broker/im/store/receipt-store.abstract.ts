import type { Test } from 'tap'
import type { ReceiptStore } from '../../../../broker/im/store/receipt-store.js'
import type { StoreFactory } from './store-fixture.js'

const G = 'g:aaaaaaaaaaaa'

/** The conformance suite every ReceiptStore implementation runs. */
export function receiptStoreSuite (t: Test, factory: StoreFactory<ReceiptStore>): void {
  t.test('advance() moves a receipt forward only, and says whether it moved', async (t) => {
    const { store } = await factory(t)
    t.same(await store.get(G, 'bob'), { delivered: 0, read: 0 }, 'nothing recorded is zero')
    t.equal(await store.advance(G, 'bob', 'delivered', 5), true)
    t.equal(await store.advance(G, 'bob', 'delivered', 3), false, 'backwards: refused')
    t.equal(await store.advance(G, 'bob', 'delivered', 5), false, 'the same seq: not a move')
    t.same(await store.get(G, 'bob'), { delivered: 5, read: 0 })
    t.equal(await store.advance(G, 'bob', 'read', 2), true)
    t.same(await store.get(G, 'bob'), { delivered: 5, read: 2 })
  })

  t.test('read implies delivered', async (t) => {
    const { store } = await factory(t)
    t.equal(await store.advance(G, 'bob', 'read', 7), true)
    t.same(await store.get(G, 'bob'), { delivered: 7, read: 7 })
    t.equal(await store.advance(G, 'bob', 'delivered', 6), false, 'delivered is already past 6')
    t.equal(await store.advance(G, 'bob', 'delivered', 9), true)
    t.same(await store.get(G, 'bob'), { delivered: 9, read: 7 })
  })

  t.test('concurrent advances in any order end at the highest, each kind and user apart', async (t) => {
    const fixture = await factory(t)
    let store = fixture.store
    const seqs = Array.from({ length: 100 }, (_, i) => i + 1).sort(() => Math.random() - 0.5)
    const moved = await Promise.all([
      ...seqs.map(seq => store.advance(G, 'bob', 'delivered', seq)),
      ...seqs.map(seq => store.advance(G, 'carol', 'read', Math.min(seq, 60))),
      ...seqs.map(seq => store.advance('d:alice:bob', 'bob', 'read', seq))
    ])
    t.ok(moved.some(Boolean) && !moved.every(Boolean), 'some moved, some did not')
    t.same(await store.get(G, 'bob'), { delivered: 100, read: 0 })
    t.same(await store.get(G, 'carol'), { delivered: 60, read: 60 })
    t.same(await store.get('d:alice:bob', 'bob'), { delivered: 100, read: 100 })
    store = await fixture.restart()
    t.same(await store.get(G, 'bob'), { delivered: 100, read: 0 }, 'kept across a restart')
    t.equal(await store.advance(G, 'bob', 'delivered', 99), false, 'and still never backwards')
  })

  t.test('ofConversation() maps every user of a conversation; drop() forgets them', async (t) => {
    const fixture = await factory(t)
    let store = fixture.store
    await store.advance(G, 'bob', 'delivered', 4)
    await store.advance(G, 'carol', 'read', 3)
    await store.advance('g:bbbbbbbbbbbb', 'dave', 'read', 1)
    t.same(await store.ofConversation(G), new Map([['bob', { delivered: 4, read: 0 }], ['carol', { delivered: 3, read: 3 }]]))
    store = await fixture.restart()
    t.same([...(await store.ofConversation(G)).keys()], ['bob', 'carol'])
    await store.drop(G)
    t.same(await store.ofConversation(G), new Map())
    t.same(await store.get(G, 'bob'), { delivered: 0, read: 0 })
    t.same(await store.get('g:bbbbbbbbbbbb', 'dave'), { delivered: 1, read: 1 }, 'other conversations stay')
  })

  t.test('bad input is refused with HAIL_ERR_STORE_INPUT', async (t) => {
    const { store } = await factory(t)
    const code = 'HAIL_ERR_STORE_INPUT'
    await t.rejects(store.advance(G, 'bob', 'seen' as 'read', 1), { code })
    await t.rejects(store.advance(G, 'bob', 'read', -1), { code })
    await t.rejects(store.advance(G, 'bob', 'read', 1.5), { code })
    await t.rejects(store.advance('nope', 'bob', 'read', 1), { code })
    await t.rejects(store.advance(G, 'B O B', 'read', 1), { code })
  })
}
