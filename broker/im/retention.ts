import type { Logger } from 'pino'
import type { Membership } from './membership.js'
import type { MessageLog } from './store/message-log.js'

export interface RetentionPolicy {
  maxCount: number | null
  maxAgeMs: number | null
  intervalMs: number
}

/**
 * History retention (by count and/or age per conversation): a pass over
 * every conversation at start and then every `intervalMs`. Pruning never
 * reuses a seq; a device syncing from before the first kept message learns
 * it from `firstSeq`. Passes never overlap, and the timer does not keep the
 * process alive.
 */
export class Retention {
  readonly #log: MessageLog
  readonly #membership: Membership
  readonly #policy: RetentionPolicy
  readonly #logger: Logger
  readonly #gate: (() => Promise<boolean>) | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<number> | undefined

  /** `gate`: asked before each timed pass (several nodes: only the one holding the lease prunes). */
  constructor (log: MessageLog, membership: Membership, policy: RetentionPolicy, logger: Logger, gate?: () => Promise<boolean>) {
    this.#gate = gate
    this.#log = log
    this.#membership = membership
    this.#policy = policy
    this.#logger = logger
  }

  get enabled (): boolean {
    return this.#policy.maxCount !== null || this.#policy.maxAgeMs !== null
  }

  start (): void {
    if (!this.enabled) return
    void this.#timed()
    this.#timer = setInterval(() => { void this.#timed() }, this.#policy.intervalMs)
    this.#timer.unref()
  }

  /** One pass now; resolves with how many messages were removed. */
  pass (): Promise<number> {
    this.#running ??= this.#prune().finally(() => { this.#running = undefined })
    return this.#running
  }

  async #timed (): Promise<void> {
    try {
      if (this.#gate !== undefined && !(await this.#gate())) return
    } catch (err) {
      this.#logger.warn({ err }, 'retention skipped: could not take the lease')
      return
    }
    await this.pass()
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }

  async #prune (): Promise<number> {
    const { maxCount, maxAgeMs } = this.#policy
    const options = { ...(maxCount !== null ? { maxCount } : {}), ...(maxAgeMs !== null ? { maxAgeMs } : {}) }
    let removed = 0
    for (const conv of this.#membership.conversations()) {
      try {
        removed += await this.#log.prune(conv, options)
      } catch (err) {
        this.#logger.warn({ err, conv }, 'retention pass failed for a conversation')
      }
    }
    if (removed > 0) this.#logger.info({ removed }, 'retention removed old messages')
    return removed
  }
}
