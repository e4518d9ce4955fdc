import { LRUCache } from 'lru-cache'

/**
 * A bounded, least-recently-used cache filled lazily from a store, which
 * writers keep coherent: after writing the disk a writer calls set() or
 * delete(), and a load that was in flight meanwhile (it may have read the
 * disk before the write) hands its value to its own caller but is not cached.
 * Values must not be undefined (cache null for "known absent").
 *
 * On lru-cache's fetch(): it shares one load among concurrent callers, and a
 * set() or delete() during a load aborts it; with ignoreFetchAbort the load
 * still answers its callers, and lru-cache stores its value only if the
 * load's entry is still the one in the cache, which is what the writers need.
 */
export class LazyCache<V> {
  /** Undefined for a size of 0: nothing is kept, loads are still shared. */
  readonly #lru: LRUCache<string, NonNullable<V> | typeof NULL, () => Promise<V>> | undefined
  /** Size 0 only: loads in flight, shared as lru-cache shares them. */
  readonly #loading = new Map<string, Promise<V>>()

  constructor (max: number) {
    const size = Math.max(0, Math.floor(max))
    this.#lru = size === 0
      ? undefined
      : new LRUCache({
        max: size,
        ignoreFetchAbort: true,
        fetchMethod: async (_key, _stale, { context }) => box(await context())
      })
  }

  /** The cached value, else one load shared by concurrent callers. */
  get (key: string, load: () => Promise<V>): Promise<V> {
    if (this.#lru === undefined) return this.#share(key, load)
    const hit = this.#lru.get(key)
    if (hit !== undefined) return Promise.resolve(unbox(hit))
    return this.#lru.fetch(key, { context: load }).then((value) => unbox(value!))
  }

  peek (key: string): V | undefined {
    const value = this.#lru?.get(key)
    return value === undefined ? undefined : unbox(value)
  }

  /** Caches what a writer just wrote; a load in flight for `key` is not cached. */
  set (key: string, value: V): void {
    this.#loading.delete(key)
    this.#lru?.set(key, box(value))
  }

  /** Forgets `key`; a load in flight for it is not cached. */
  delete (key: string): void {
    this.#loading.delete(key)
    this.#lru?.delete(key)
  }

  /** Forgets every key starting with `prefix` (a scan: for rare writes only). */
  deletePrefix (prefix: string): void {
    for (const key of [...this.#lru?.keys() ?? [], ...this.#loading.keys()]) {
      if (key.startsWith(prefix)) this.delete(key)
    }
  }

  #share (key: string, load: () => Promise<V>): Promise<V> {
    const pending = this.#loading.get(key)
    if (pending !== undefined) return pending
    const loaded = load().finally(() => {
      if (this.#loading.get(key) === loaded) this.#loading.delete(key)
    })
    this.#loading.set(key, loaded)
    return loaded
  }
}

/** lru-cache keeps no null (its values are `{}`): "known absent" is stored as this. */
const NULL = Symbol('null')

function box<V> (value: V): NonNullable<V> | typeof NULL {
  return value === null ? NULL : value as NonNullable<V>
}

function unbox<V> (value: NonNullable<V> | typeof NULL): V {
  return (value === NULL ? null : value) as V
}
