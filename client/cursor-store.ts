/**
 * Where a device keeps, per conversation, the last seq it has shown
 * (docs/protocol.md, "Order, gaps and sync"). Keep one store per user and
 * device: with a persistent store a restarted app syncs only what it has
 * not shown; with the in-memory default a restarted app is a new device
 * and gets the whole visible history again.
 */
export interface CursorStore {
  /** Every saved cursor, read once before connecting. */
  load: () => Record<string, number> | Promise<Record<string, number>>
  /** Called after a message is shown; need not be awaited in order (cursors only grow). */
  save: (conv: string, seq: number) => void | Promise<void>
}

/** The default: cursors live as long as the client object. */
export class MemoryCursorStore implements CursorStore {
  readonly #cursors = new Map<string, number>()

  load (): Record<string, number> {
    return Object.fromEntries(this.#cursors)
  }

  save (conv: string, seq: number): void {
    if (seq > (this.#cursors.get(conv) ?? 0)) this.#cursors.set(conv, seq)
  }

  get (conv: string): number | undefined {
    return this.#cursors.get(conv)
  }
}

/** The part of the Web Storage API (localStorage, sessionStorage) this needs. */
export interface KeyValueStorage {
  getItem: (key: string) => string | null
  setItem: (key: string, value: string) => void
}

/**
 * Cursors in Web Storage, as one JSON object under `key`: use a key per
 * user and device (`hail:alice/laptop`) when several accounts share a browser.
 */
export class WebStorageCursorStore implements CursorStore {
  readonly #storage: KeyValueStorage
  readonly #key: string
  #cursors: Record<string, number> | undefined

  constructor (storage: KeyValueStorage, key: string) {
    this.#storage = storage
    this.#key = key
  }

  load (): Record<string, number> {
    this.#cursors = {}
    const text = this.#storage.getItem(this.#key)
    if (text === null) return {}
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return {}
    }
    if (typeof parsed !== 'object' || parsed === null) return {}
    for (const [conv, seq] of Object.entries(parsed)) {
      if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0) this.#cursors[conv] = seq
    }
    return { ...this.#cursors }
  }

  save (conv: string, seq: number): void {
    if (this.#cursors === undefined) this.load()
    const cursors = this.#cursors!
    if (seq <= (cursors[conv] ?? 0)) return
    cursors[conv] = seq
    this.#storage.setItem(this.#key, JSON.stringify(cursors))
  }
}
