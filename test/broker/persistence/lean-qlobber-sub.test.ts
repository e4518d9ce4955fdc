import QlobberSub from 'qlobber/aedes/qlobber-sub.js'
import t from 'tap'
import { LeanQlobberSub } from '../../../broker/persistence/subscription-store.js'

const OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/', match_empty_levels: true }
type Sub = { clientId: string, topic: string, qos: number, rh?: number, rap?: boolean, nl?: boolean }
interface Trie {
  add: (topic: string, sub: Sub) => unknown
  remove: (topic: string, sub: { clientId: string, topic: string }) => unknown
  match: (topic: string) => unknown[]
  match_iter: (topic: string) => Iterable<unknown>
  subscriptionsCount: number
  _initial_value: (val: Sub) => { topic: string, clientMap: Map<string, unknown>, [Symbol.iterator]: (topic?: string) => Iterator<unknown> }
}

// LeanQlobberSub replaces QlobberSub 8's `_initial_value`, `_add_value` and `_remove_value` (qlobber/aedes/qlobber-sub.js),
// the value kept per topic filter. If qlobber changes what that value holds or how
// it is used, this fails: the two tries must answer every question alike.
t.test('QlobberSub keeps {topic, clientMap, [Symbol.iterator]} per filter through _initial_value', async (t) => {
  const plain = new QlobberSub(OPTIONS) as unknown as Trie
  for (const method of ['_initial_value', '_add_value', '_remove_value', '_add_values', 'test_values']) {
    t.ok(Object.hasOwn(QlobberSub.prototype, method), `QlobberSub has its own ${method}`)
  }
  const value = plain._initial_value({ clientId: 'c', topic: 'a/b', qos: 1 })
  t.same(Object.keys(value).sort(), ['clientMap', 'topic'])
  t.type(value[Symbol.iterator], 'function')
  const lean = new LeanQlobberSub(OPTIONS) as unknown as Trie
  const leanValue = lean._initial_value({ clientId: 'c', topic: 'a/b', qos: 1 })
  t.same({ topic: leanValue.topic, clientMap: [...leanValue.clientMap] }, { topic: value.topic, clientMap: [...value.clientMap] })
  t.same([...{ [Symbol.iterator]: () => leanValue[Symbol.iterator]() }], [...{ [Symbol.iterator]: () => value[Symbol.iterator]() }])
  t.same([...{ [Symbol.iterator]: () => leanValue[Symbol.iterator]('a/b') }], [...{ [Symbol.iterator]: () => value[Symbol.iterator]('a/b') }])
  t.same([...{ [Symbol.iterator]: () => leanValue[Symbol.iterator]('x') }], [])
})

t.test('LeanQlobberSub answers as QlobberSub through adds, changes and removes', async (t) => {
  const plain = new QlobberSub(OPTIONS) as unknown as Trie
  const lean = new LeanQlobberSub(OPTIONS) as unknown as Trie
  const both = (f: (trie: Trie) => void): void => { f(plain); f(lean) }
  const filters = ['a/b', 'a/+', 'a/#', '#', '+/b', 'a//b', 'c']
  let n = 0
  for (const topic of filters) {
    for (let c = 0; c < 3; c++) {
      const sub = { clientId: `c${c}`, topic, qos: 1 + (n++ % 2), nl: c === 1, rap: c === 2, rh: c }
      both((trie) => trie.add(topic, sub))
    }
  }
  both((trie) => trie.add('a/b', { clientId: 'c0', topic: 'a/b', qos: 2 })) // a change of QoS
  both((trie) => trie.remove('a/+', { clientId: 'c1', topic: 'a/+' }))
  both((trie) => trie.remove('c', { clientId: 'c0', topic: 'c' }))
  both((trie) => trie.remove('c', { clientId: 'c1', topic: 'c' }))
  both((trie) => trie.remove('c', { clientId: 'c2', topic: 'c' })) // the last of a filter
  const sort = (xs: unknown[]): string[] => xs.map((x) => JSON.stringify(x)).sort()
  for (const topic of ['a/b', 'a/c', 'a', 'b', 'x/b', 'a//b', 'c', 'a/b/c']) {
    t.same(sort(lean.match(topic)), sort(plain.match(topic)), `match ${topic}`)
    t.same(sort([...lean.match_iter(topic)]), sort([...plain.match_iter(topic)]), `match_iter ${topic}`)
  }
  t.equal(lean.subscriptionsCount, plain.subscriptionsCount, 'the same count')
  t.ok(lean.match('a/b').length > 0, 'not vacuous')
})

t.test('LeanQlobberSub answers as QlobberSub for filters with one subscriber, a second, and back', async (t) => {
  const plain = new QlobberSub(OPTIONS) as unknown as Trie & { test_values: (existing: unknown, val: unknown) => boolean }
  const lean = new LeanQlobberSub(OPTIONS) as unknown as Trie & { test_values: (existing: unknown, val: unknown) => boolean }
  const sort = (xs: unknown[]): string[] => xs.map((x) => JSON.stringify(x)).sort()
  const check = (what: string): void => {
    for (const topic of ['inbox/a', 'inbox/b', 'inbox/c', 'inbox/d', 'x']) {
      t.same(sort(lean.match(topic)), sort(plain.match(topic)), `${what}: match ${topic}`)
      t.same(sort([...lean.match_iter(topic)]), sort([...plain.match_iter(topic)]), `${what}: match_iter ${topic}`)
    }
    t.equal(lean.subscriptionsCount, plain.subscriptionsCount, `${what}: the same count`)
  }
  const both = (f: (trie: Trie) => void): void => { f(plain); f(lean) }
  both((trie) => trie.add('inbox/a', { clientId: 'a', topic: 'inbox/a', qos: 1 }))
  both((trie) => trie.add('inbox/b', { clientId: 'b', topic: 'inbox/b', qos: 1 }))
  both((trie) => trie.add('inbox/c', { clientId: 'c', topic: 'inbox/c', qos: 1 }))
  both((trie) => trie.add('inbox/+', { clientId: 'w', topic: 'inbox/+', qos: 2, nl: true }))
  check('one each')
  both((trie) => trie.add('inbox/a', { clientId: 'a', topic: 'inbox/a', qos: 2, rap: true })) // the one changes
  check('changed')
  both((trie) => trie.add('inbox/b', { clientId: 'b2', topic: 'inbox/b', qos: 1 })) // a second
  check('a second')
  both((trie) => trie.remove('inbox/b', { clientId: 'b', topic: 'inbox/b' })) // back to one
  both((trie) => trie.remove('inbox/c', { clientId: 'nobody', topic: 'inbox/c' })) // not the one
  check('back to one')
  both((trie) => trie.remove('inbox/c', { clientId: 'c', topic: 'inbox/c' })) // the last
  both((trie) => trie.remove('inbox/+', { clientId: 'w', topic: 'inbox/+' }))
  check('removed')
  t.same(lean.match('inbox/c'), [], 'gone')
  t.equal(lean.match('inbox/a').length, 1, 'not vacuous')
  both((trie) => trie.add('inbox/c', { clientId: 'c', topic: 'inbox/c', qos: 1 })) // again after the last went
  check('again')
})
