import type { GroupCommit, LevelDatabase } from '../../storage/index.js'
import { KeyedLock, LevelJson, prefixRange } from '../../storage/index.js'
import { recallInput } from './draft-input.js'
import { StoreError } from './errors.js'
import type { Recall } from './message-log.js'
import type { RecallIndex, RecalledMessage } from './recall-index.js'

// Keys: r!{conv}!{seq} -> Recall (conv ids hold no '!').

/** The recall index on a level sublevel; writes synced through the server's group commit. */
export class LevelRecallIndex implements RecallIndex {
  readonly #store: LevelJson
  readonly #lock = new KeyedLock()
  #closed = false

  constructor (db: LevelDatabase, groupCommit: GroupCommit) {
    this.#store = new LevelJson(db, groupCommit, 'recall index')
  }

  async add (conv: string, seq: number, deleted: Recall): Promise<void> {
    const { mark } = recallInput(conv, seq, deleted, {})
    if (this.#closed) throw new StoreError('the recall index is closed')
    const key = `r!${conv}!${seq}`
    await this.#lock.run(key, async () => {
      if (await this.#store.get(key) !== undefined) return
      await this.#store.write([this.#store.put(key, mark)])
    })
  }

  async list (): Promise<RecalledMessage[]> {
    const entries: RecalledMessage[] = []
    for await (const [key, deleted] of this.#store.entries<Recall>(prefixRange('r!'))) {
      const bang = key.lastIndexOf('!')
      entries.push({ conv: key.slice(2, bang), seq: Number(key.slice(bang + 1)), deleted })
    }
    return entries
  }

  async size (): Promise<number> {
    let count = 0
    for await (const key of this.#store.keys(prefixRange('r!'))) if (key.length > 0) count++
    return count
  }

  async close (): Promise<void> {
    this.#closed = true
    await this.#lock.idle()
    await this.#store.groupCommit.flush()
  }
}
