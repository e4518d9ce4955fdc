import { HailClientError } from './errors.js'

interface Waiter<T> {
  resolve: (value: T) => void
  reject: (err: HailClientError) => void
  timer: ReturnType<typeof setTimeout>
}

/**
 * Promises waiting for a reply with a given key (a send's cid, a request's
 * req). Several waiters may share a key: a send repeated with the same cid
 * settles with the first reply. Each waiter has its own timeout; a reply
 * nobody waits for any more is ignored (it was a QoS 1 redelivery, or the
 * answer to a caller that timed out).
 */
export class PendingReplies<T> {
  readonly #waiting = new Map<string, Array<Waiter<T>>>()
  readonly #what: string

  /** `what` names the wait in timeout messages: "a reply to send", say. */
  constructor (what: string) {
    this.#what = what
  }

  get size (): number {
    return this.#waiting.size
  }

  has (key: string): boolean {
    return this.#waiting.has(key)
  }

  /** Register before publishing: the reply may come before the publish resolves. */
  wait (key: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#remove(key, waiter)
          reject(new HailClientError('HAIL_ERR_TIMEOUT', `no ${this.#what} ${key} within ${timeoutMs} ms`, { ref: key }))
        }, timeoutMs)
      }
      const list = this.#waiting.get(key)
      if (list === undefined) this.#waiting.set(key, [waiter])
      else list.push(waiter)
    })
  }

  /** Settles every waiter of `key`; false when there was none. */
  resolve (key: string, value: T): boolean {
    return this.#settle(key, (w) => w.resolve(value))
  }

  reject (key: string, err: HailClientError): boolean {
    return this.#settle(key, (w) => w.reject(err))
  }

  rejectAll (err: (key: string) => HailClientError): void {
    for (const key of [...this.#waiting.keys()]) this.reject(key, err(key))
  }

  #settle (key: string, settle: (waiter: Waiter<T>) => void): boolean {
    const list = this.#waiting.get(key)
    if (list === undefined) return false
    this.#waiting.delete(key)
    for (const waiter of list) {
      clearTimeout(waiter.timer)
      settle(waiter)
    }
    return true
  }

  #remove (key: string, waiter: Waiter<T>): void {
    const list = this.#waiting.get(key)
    if (list === undefined) return
    const i = list.indexOf(waiter)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.#waiting.delete(key)
  }
}
