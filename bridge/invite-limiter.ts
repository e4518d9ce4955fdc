import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { sharedLimiter, type SharedLimiterOptions } from '../broker/index.js'

/**
 * Invites per caller (user, all devices together, on every node when they
 * share Redis: a user's devices may sit on several). A fixed window of
 * `burst` invites lasting as long as `perMinute` takes to refill it: the
 * same average and burst as a token bucket, though a caller who times it
 * can place two bursts back to back across a window's end.
 */
export class InviteLimiter {
  #limiter: RateLimiterAbstract
  readonly #options: Omit<SharedLimiterOptions, 'redis'>

  constructor (perMinute: number, burst: number) {
    this.#options = { name: 'invite', points: burst, duration: Math.max(1, Math.ceil(burst * 60 / perMinute)) }
    this.#limiter = sharedLimiter(this.#options)
  }

  /** Count from now on in the Redis every node shares (counts held in memory until then are left behind). */
  share (redis: SharedLimiterOptions['redis']): void {
    this.#limiter = sharedLimiter({ ...this.#options, redis })
  }

  /** Whether `user` may place one more call now; counts it if so. */
  async take (user: string): Promise<boolean> {
    try {
      await this.#limiter.consume(user)
      return true
    } catch (err) {
      if (err instanceof RateLimiterRes) return false
      throw err
    }
  }
}
