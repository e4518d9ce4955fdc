/**
 * Runs an async task one at a time. A run() while one is running queues a
 * single follow-up, which every later caller shares until it starts: so a
 * burst of triggers (gaps, reconnects, explicit sync calls) costs at most
 * the running pass plus one more, and every caller's promise settles after
 * a pass that started after its call.
 */
export class SerialTask {
  readonly #task: () => Promise<void>
  #running: Promise<void> | undefined
  #queued: Promise<void> | undefined

  constructor (task: () => Promise<void>) {
    this.#task = task
  }

  get busy (): boolean {
    return this.#running !== undefined || this.#queued !== undefined
  }

  run (): Promise<void> {
    if (this.#queued !== undefined) return this.#queued
    this.#queued = this.#after(this.#running)
    return this.#queued
  }

  async #after (previous: Promise<void> | undefined): Promise<void> {
    // Always await, even nothing: run() sets #queued to this pass first.
    await previous?.catch(() => {})
    const pass = this.#queued
    this.#queued = undefined
    this.#running = pass
    try {
      await this.#task()
    } finally {
      if (this.#running === pass) this.#running = undefined
    }
  }
}
