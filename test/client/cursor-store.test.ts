import t from 'tap'
import { MemoryCursorStore, WebStorageCursorStore, type KeyValueStorage } from '../../client/cursor-store.js'

class FakeStorage implements KeyValueStorage {
  readonly items = new Map<string, string>()
  getItem (key: string): string | null { return this.items.get(key) ?? null }
  setItem (key: string, value: string): void { this.items.set(key, value) }
}

t.test('the memory store keeps the highest cursor per conversation', async (t) => {
  const store = new MemoryCursorStore()
  store.save('d:alice:bob', 4)
  store.save('d:alice:bob', 2)
  store.save('g:abcdefghijkl', 9)
  t.same(store.load(), { 'd:alice:bob': 4, 'g:abcdefghijkl': 9 })
})

t.test('the web storage store survives a new instance (a page reload)', async (t) => {
  const storage = new FakeStorage()
  const before = new WebStorageCursorStore(storage, 'hail:alice/laptop')
  t.same(before.load(), {})
  before.save('d:alice:bob', 3)
  before.save('d:alice:bob', 1)
  const after = new WebStorageCursorStore(storage, 'hail:alice/laptop')
  t.same(after.load(), { 'd:alice:bob': 3 })
  t.same(new WebStorageCursorStore(storage, 'hail:bob/phone').load(), {}, 'another key, another device')
})

t.test('the web storage store ignores what it cannot read', async (t) => {
  const storage = new FakeStorage()
  storage.setItem('k', '{not json')
  t.same(new WebStorageCursorStore(storage, 'k').load(), {})
  storage.setItem('k', JSON.stringify({ a: 2, b: -1, c: 'x', d: 1.5 }))
  t.same(new WebStorageCursorStore(storage, 'k').load(), { a: 2 })
  const store = new WebStorageCursorStore(storage, 'k')
  store.save('e', 1)
  t.same(JSON.parse(storage.getItem('k')!), { a: 2, e: 1 }, 'save without load reads first')
})
