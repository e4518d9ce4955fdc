import t from 'tap'
import { LazyCache } from '../../../../broker/im/store/lazy-cache.js'

function deferred<T> () {
  let resolve!: (value: T) => void
  let reject!: (err: Error) => void
  const promise = new Promise<T>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}

t.test('concurrent gets of a missing key share one load, and its value is cached', async (t) => {
  const cache = new LazyCache<string>(10)
  let loads = 0
  const load = async (): Promise<string> => { loads++; return 'v' }
  t.same(await Promise.all([cache.get('k', load), cache.get('k', load), cache.get('k', load)]), ['v', 'v', 'v'])
  t.equal(loads, 1)
  t.equal(await cache.get('k', load), 'v')
  t.equal(loads, 1, 'the next get is a hit')
})

t.test('a load that was in flight when a writer set the key does not overwrite the written value', async (t) => {
  const cache = new LazyCache<string | null>(10)
  const disk = deferred<string | null>()
  const stale = cache.get('k', () => disk.promise)
  cache.set('k', 'written')
  disk.resolve(null) // read before the write landed
  t.equal(await stale, null, 'the racing caller gets what it read')
  t.equal(cache.peek('k'), 'written', 'the cache keeps what was written')
  t.equal(await cache.get('k', async () => 'reloaded'), 'written')
})

t.test('a load in flight when a writer deleted the key is not cached', async (t) => {
  const cache = new LazyCache<string>(10)
  const disk = deferred<string>()
  const stale = cache.get('k', () => disk.promise)
  cache.delete('k')
  const fresh = cache.get('k', async () => 'fresh')
  disk.resolve('stale')
  t.equal(await stale, 'stale')
  t.equal(await fresh, 'fresh', 'a get after the delete loads again')
  t.equal(cache.peek('k'), 'fresh')
})

t.test('a failed load is not cached and the next get loads again', async (t) => {
  const cache = new LazyCache<string>(10)
  await t.rejects(cache.get('k', async () => { throw new Error('disk') }), { message: 'disk' })
  t.equal(await cache.get('k', async () => 'ok'), 'ok')
})

t.test('the least recently used entry goes first, and deletePrefix() drops a range', async (t) => {
  const cache = new LazyCache<number>(2)
  cache.set('a', 1)
  cache.set('b', 2)
  t.equal(cache.peek('a'), 1, 'a is now the most recently used')
  cache.set('c', 3)
  t.same([cache.peek('a'), cache.peek('b'), cache.peek('c')], [1, undefined, 3])
  cache.deletePrefix('c')
  t.same([cache.peek('a'), cache.peek('c')], [1, undefined])
  const none = new LazyCache<number>(0)
  none.set('a', 1)
  t.equal(none.peek('a'), undefined, 'a cache of size 0 keeps nothing')
})
