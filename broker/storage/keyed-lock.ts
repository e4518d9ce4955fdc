/**
 * Runs tasks one at a time per key (a client id, a topic), tasks of different
 * keys concurrently. classic-level runs each write on a thread pool, so two
 * writes issued back to back may land in either order; the stores use this
 * where a later write must win or where a count must stay exact.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>()

  run<T> (key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key)
    const result = previous === undefined ? task() : previous.then(task)
    const tail = result.then(noop, noop)
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return result
  }

  /** Resolves once every task started so far has settled. */
  async idle (): Promise<void> {
    while (this.#tails.size > 0) {
      await Promise.all(this.#tails.values())
    }
  }
}

function noop (): void {}
