import type { LevelJson } from './level-json.js'

interface Request {
  keys: string[]
  resolve: (values: unknown[]) => void
  reject: (err: unknown) => void
}

/**
 * Point reads of one event-loop turn in one `getMany`. Each call to level
 * costs tens of microseconds of the main thread whatever it reads (Node-API,
 * a snapshot, a thread-pool hop, the promise), and a key read alone costs
 * 7-14× what it costs among 16 (docs/performance.md). Callers that read a few
 * keys per message (the conversation log's idempotency keys) share one read
 * per turn: requests are gathered until the turn's immediates run, so every
 * socket that was readable in the turn has had its say.
 *
 * A read sees every write that had resolved when it was requested: it is
 * issued later, never earlier.
 */
export class TurnReads {
  readonly #store: LevelJson
  #pending: Request[] = []
  #scheduled = false

  constructor (store: LevelJson) {
    this.#store = store
  }

  getMany<T> (keys: string[]): Promise<Array<T | undefined>> {
    if (keys.length === 0) return Promise.resolve([])
    return new Promise<unknown[]>((resolve, reject) => {
      this.#pending.push({ keys, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(this.#flush)
      }
    }) as Promise<Array<T | undefined>>
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    const batch = this.#pending
    this.#pending = []
    const keys = batch.length === 1 ? batch[0].keys : batch.flatMap(request => request.keys)
    this.#store.getMany<unknown>(keys).then((values) => {
      if (batch.length === 1) return batch[0].resolve(values)
      let at = 0
      for (const request of batch) {
        request.resolve(values.slice(at, at + request.keys.length))
        at += request.keys.length
      }
    }, (err: unknown) => {
      for (const request of batch) request.reject(err)
    })
  }
}
