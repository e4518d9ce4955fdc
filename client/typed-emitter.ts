type Listener<A extends unknown[]> = (...args: A) => void

/**
 * A small typed event emitter with no Node import, so the SDK runs in
 * browsers. A listener that throws does not break the emitter's caller:
 * the error goes to `onListenerError` instead.
 */
export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  readonly #listeners = new Map<keyof E, Array<{ fn: Listener<never>, once: boolean }>>()

  on<K extends keyof E> (event: K, listener: (...args: E[K]) => void): this {
    return this.#add(event, listener, false)
  }

  once<K extends keyof E> (event: K, listener: (...args: E[K]) => void): this {
    return this.#add(event, listener, true)
  }

  off<K extends keyof E> (event: K, listener: (...args: E[K]) => void): this {
    const list = this.#listeners.get(event)
    if (list === undefined) return this
    const i = list.findIndex((l) => l.fn === listener)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.#listeners.delete(event)
    return this
  }

  listenerCount (event: keyof E): number {
    return this.#listeners.get(event)?.length ?? 0
  }

  /** Calls each listener in order; returns whether there was any. */
  protected emit<K extends keyof E> (event: K, ...args: E[K]): boolean {
    const list = this.#listeners.get(event)
    if (list === undefined) return false
    for (const entry of [...list]) {
      if (entry.once) this.off(event, entry.fn as Listener<E[K]>)
      try {
        (entry.fn as Listener<E[K]>)(...args)
      } catch (err) {
        this.onListenerError(event, err)
      }
    }
    return true
  }

  /** What to do with an exception thrown by a listener; subclasses report it. */
  protected onListenerError (_event: keyof E, _err: unknown): void {}

  #add<K extends keyof E> (event: K, listener: Listener<E[K]>, once: boolean): this {
    let list = this.#listeners.get(event)
    if (list === undefined) this.#listeners.set(event, list = [])
    list.push({ fn: listener as Listener<never>, once })
    return this
  }
}
