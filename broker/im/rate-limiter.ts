/**
 * A token bucket per key (a client id): `rate` requests a second on
 * average, `burst` at once. Buckets are forgotten with forget(), called
 * when the client disconnects, so memory follows the connected clients.
 */
export class RateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #buckets = new Map<string, { tokens: number, at: number }>()

  constructor (rate: number, burst: number) {
    this.#rate = rate
    this.#burst = burst
  }

  /** Take one token; false when the bucket is empty. */
  take (key: string, now = Date.now()): boolean {
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) this.#buckets.set(key, bucket = { tokens: this.#burst, at: now })
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#rate / 1000)
    bucket.at = now
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  forget (key: string): void {
    this.#buckets.delete(key)
  }
}
