/**
 * Invites per caller (user, all devices together): a token bucket refilled
 * at `perMinute`, holding at most `burst`. Idle buckets are forgotten.
 */
export class InviteLimiter {
  readonly #perMs: number
  readonly #burst: number
  readonly #buckets = new Map<string, { tokens: number, at: number }>()

  constructor (perMinute: number, burst: number) {
    this.#perMs = perMinute / 60_000
    this.#burst = burst
  }

  take (user: string, now = Date.now()): boolean {
    const bucket = this.#buckets.get(user) ?? { tokens: this.#burst, at: now }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs)
    bucket.at = now
    if (this.#buckets.size > 10_000) this.#sweep(now)
    this.#buckets.set(user, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  #sweep (now: number): void {
    for (const [user, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= this.#burst) this.#buckets.delete(user)
    }
  }
}
