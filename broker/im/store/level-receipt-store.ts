import { GroupCommit, type LevelDatabase } from '../../storage/index.js'
import { KeyedLock } from '../../storage/index.js'
import { requireConvId, requireUserName } from './conv-id.js'
import { StoreError, StoreInputError } from './errors.js'
import { LazyCache } from './lazy-cache.js'
import { LevelJson, prefixRange } from '../../storage/index.js'
import type { Receipt, ReceiptKind, ReceiptStore } from './receipt-store.js'

// Keys: r!{conv}!{user} -> { delivered, read }
const DROP_CHUNK = 1000

export interface LevelReceiptStoreOptions {
  /**
   * The group commit to write through. Default: an unsynced one of the
   * store's own, so receipts never wait for (or add to) the fsyncs of messages.
   */
  groupCommit?: GroupCommit
  /** (conversation, user) pairs whose receipts are kept in memory (default 100,000). */
  cacheSize?: number
}

/**
 * Receipts on a level sublevel. Advances of one (conversation, user) run one
 * at a time and each waits for its write, so the value compared against is
 * always what the disk holds, also after it fell out of the cache; writes of
 * different pairs share batches.
 */
export class LevelReceiptStore implements ReceiptStore {
  readonly #store: LevelJson
  readonly #lock = new KeyedLock()
  readonly #cache: LazyCache<Receipt>
  #closed = false

  /** `db` is the store's sublevel. */
  constructor (db: LevelDatabase, options: LevelReceiptStoreOptions = {}) {
    this.#store = new LevelJson(db, options.groupCommit ?? new GroupCommit(db, { sync: false }), 'receipt store')
    this.#cache = new LazyCache(options.cacheSize ?? 100_000)
  }

  async advance (conv: string, user: string, kind: ReceiptKind, seq: number): Promise<boolean> {
    requireConvId(conv)
    requireUserName(user)
    if (kind !== 'delivered' && kind !== 'read') throw new StoreInputError(`not a receipt kind: ${JSON.stringify(kind)}`)
    if (!Number.isSafeInteger(seq) || seq < 0) throw new StoreInputError(`a receipt seq must be an integer >= 0, not ${String(seq)}`)
    if (this.#closed) throw new StoreError('the receipt store is closed')
    const key = `${conv}!${user}`
    return await this.#lock.run(key, async () => {
      const current = await this.#load(key)
      if (seq <= current[kind]) return false
      const next: Receipt = kind === 'read'
        ? { delivered: Math.max(current.delivered, seq), read: seq }
        : { delivered: seq, read: current.read }
      await this.#store.write([this.#store.put(`r!${key}`, next)])
      this.#cache.set(key, next)
      return true
    })
  }

  async get (conv: string, user: string): Promise<Receipt> {
    requireConvId(conv)
    requireUserName(user)
    return { ...await this.#load(`${conv}!${user}`) }
  }

  async ofConversation (conv: string): Promise<Map<string, Receipt>> {
    requireConvId(conv)
    const prefix = `r!${conv}!`
    const receipts = new Map<string, Receipt>()
    for await (const [key, receipt] of this.#store.entries<Receipt>(prefixRange(prefix))) {
      receipts.set(key.slice(prefix.length), receipt)
    }
    return receipts
  }

  async drop (conv: string): Promise<void> {
    requireConvId(conv)
    if (this.#closed) throw new StoreError('the receipt store is closed')
    const prefix = `r!${conv}!`
    for (;;) {
      const keys: string[] = []
      for await (const key of this.#store.keys({ ...prefixRange(prefix), limit: DROP_CHUNK })) keys.push(key)
      if (keys.length === 0) break
      // under each pair's lock, so no advance in flight writes a receipt back behind the delete
      await Promise.all(keys.map(key => this.#lock.run(key.slice(2), async () => {
        await this.#store.write([this.#store.del(key)])
        this.#cache.delete(key.slice(2))
      })))
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    await this.#lock.idle()
    await this.#store.groupCommit.flush()
  }

  #load (key: string): Promise<Receipt> {
    return this.#cache.get(key, async () => {
      const stored = await this.#store.get<Receipt>(`r!${key}`)
      return stored ?? { delivered: 0, read: 0 }
    })
  }
}
