/**
 * A bounded, least-recently-used cache filled lazily from a store, which
 * writers keep coherent: after writing the disk a writer calls set() or
 * delete(), and a load that was in flight meanwhile (it may have read the
 * disk before the write) hands its value to its own caller but is not cached.
 * Values must not be undefined (cache null for "known absent").
 */
export class LazyCache<V> {
  readonly #max: number
  readonly #values = new Map<string, V>()
  readonly #loading = new Map<string, Promise<V>>()

  constructor (max: number) {
    this.#max = Math.max(0, Math.floor(max))
  }

  /** The cached value, else one load shared by concurrent callers. */
  get (key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.peek(key)
    if (hit !== undefined) return Promise.resolve(hit)
    const pending = this.#loading.get(key)
    if (pending !== undefined) return pending
    const loaded: Promise<V> = load().then(
      (value) => {
        if (this.#loading.get(key) === loaded) {
          this.#loading.delete(key)
          this.#put(key, value)
        }
        return value
      },
      (err: unknown) => {
        if (this.#loading.get(key) === loaded) this.#loading.delete(key)
        throw err
      })
    this.#loading.set(key, loaded)
    return loaded
  }

  peek (key: string): V | undefined {
    const value = this.#values.get(key)
    if (value !== undefined) {
      // re-inserted: Map order is then least recently used first
      this.#values.delete(key)
      this.#values.set(key, value)
    }
    return value
  }

  /** Caches what a writer just wrote; a load in flight for `key` is not cached. */
  set (key: string, value: V): void {
    this.#loading.delete(key)
    this.#put(key, value)
  }

  /** Forgets `key`; a load in flight for it is not cached. */
  delete (key: string): void {
    this.#loading.delete(key)
    this.#values.delete(key)
  }

  /** Forgets every key starting with `prefix` (a scan: for rare writes only). */
  deletePrefix (prefix: string): void {
    for (const key of [...this.#values.keys(), ...this.#loading.keys()]) {
      if (key.startsWith(prefix)) this.delete(key)
    }
  }

  #put (key: string, value: V): void {
    if (this.#max === 0) return
    this.#values.delete(key)
    this.#values.set(key, value)
    if (this.#values.size > this.#max) {
      const oldest = this.#values.keys().next().value as string
      this.#values.delete(oldest)
    }
  }
}
