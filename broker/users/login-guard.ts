import { isIPv6 } from 'node:net'
import type { Redis } from 'ioredis'
import type { RateLimiterAbstract } from 'rate-limiter-flexible'
import { sharedLimiter } from '../shared-limiter.js'

export interface LoginGuardOptions {
  /** Failed logins an account may have before each further attempt waits (default 5). */
  accountFailures?: number
  /** The same for a remote address (default 20: people behind one NAT share it). */
  addressFailures?: number
  /** The first wait, doubled at each further failure (default 1 s; whole seconds, as Redis keeps them). */
  baseDelayMs?: number
  /** The longest wait (default 15 min). */
  maxDelayMs?: number
  /** An account or address without failures for this long is forgotten (default 1 h). */
  forgetAfterMs?: number
  /** Alone: most accounts, and most addresses, remembered; past it the longest quiet goes first (default 10,000). */
  maxEntries?: number
  /** Told each time failures make an account or an address wait that did not (a lockout; /metrics counts them). */
  onLockout?: (by: 'account' | 'address') => void
}

/** What unlock() found. */
export interface UnlockResult {
  /** The account was waiting: its next attempt would have been refused. */
  wasLocked: boolean
  /** Failed logins remembered for it, now forgotten. */
  failures: number
}

export type GuardVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false, readonly by: 'account' | 'address', readonly retryAfterMs: number }

/**
 * Exponential backoff of failed logins, per account and per remote address:
 * after `accountFailures` failures of one account (or `addressFailures` from
 * one address) each further attempt must wait a window that doubles at every
 * failure, up to `maxDelayMs`. A refusal while a window is open is decided
 * here, before any password is hashed, so guessing costs the guesser time and
 * the server nothing.
 *
 * The counts are rate-limiter-flexible's (broker/shared-limiter.ts): in
 * memory on one node, and after share() in the Redis the nodes share, so an
 * account's failures on every node add up and its wait holds on all of them
 * (a guesser cannot spread attempts over the nodes behind a load balancer).
 * Per kind, one count of failures, forgotten `forgetAfterMs` after the last
 * one, and one key per open window that expires with it.
 *
 * A success clears the account, not the address: an attacker with one
 * account of their own must not be able to wipe their address's record
 * between guesses at other accounts. Addresses are forgotten after a quiet
 * `forgetAfterMs` instead.
 *
 * Alone, memory is bounded by `maxEntries` per kind (the longest quiet is
 * forgotten first); in Redis every key expires on its own.
 */
export class LoginGuard {
  readonly #options: Required<Omit<LoginGuardOptions, 'onLockout' | 'accountFailures' | 'addressFailures'>>
  readonly #free: Record<Kind, number>
  readonly #onLockout: ((by: Kind) => void) | undefined
  #tables: Record<Kind, FailureTable>

  constructor (options: LoginGuardOptions = {}) {
    this.#options = {
      baseDelayMs: options.baseDelayMs ?? 1000,
      maxDelayMs: options.maxDelayMs ?? 15 * 60_000,
      forgetAfterMs: options.forgetAfterMs ?? 60 * 60_000,
      maxEntries: options.maxEntries ?? 10_000
    }
    this.#free = { account: options.accountFailures ?? 5, address: options.addressFailures ?? 20 }
    this.#onLockout = options.onLockout
    this.#tables = this.#makeTables(undefined)
  }

  /**
   * Count in the Redis every node shares from now on. Failures counted in
   * memory until then are left behind (the server calls this as it starts,
   * before any login).
   */
  share (redis: Redis): void {
    this.#tables = this.#makeTables(redis)
  }

  #makeTables (redis: Redis | undefined): Record<Kind, FailureTable> {
    const forget = seconds(this.#options.forgetAfterMs)
    const table = (kind: Kind): FailureTable => ({
      // No limit of its own: penalty() counts, and the guard decides.
      // In Redis each failure renews the count's expiry in the same script that counts it.
      failures: sharedLimiter({ name: `login-${kind}-failures`, points: Number.MAX_SAFE_INTEGER, duration: forget, redis, renew: true }),
      // One point per open window; block() and get() are all that is used.
      windows: sharedLimiter({ name: `login-${kind}-wait`, points: 1, duration: 1, redis }),
      // Alone, the keys by last failure, oldest first, to bound memory; Redis expires its own.
      recent: redis === undefined ? new Map() : undefined
    })
    return { account: table('account'), address: table('address') }
  }

  /** Whether an attempt may proceed to the password check now. */
  async check (account: string | undefined, address: string | undefined): Promise<GuardVerdict> {
    const [byAccount, byAddress] = await Promise.all([
      account === undefined ? 0 : this.#waitFor('account', account),
      address === undefined ? 0 : this.#waitFor('address', addressKey(address))
    ])
    if (byAccount === 0 && byAddress === 0) return { allowed: true }
    return byAccount >= byAddress
      ? { allowed: false, by: 'account', retryAfterMs: byAccount }
      : { allowed: false, by: 'address', retryAfterMs: byAddress }
  }

  /** A password or token was wrong. */
  async failed (account: string | undefined, address: string | undefined): Promise<void> {
    await Promise.all([
      account === undefined ? undefined : this.#fail('account', account),
      address === undefined ? undefined : this.#fail('address', addressKey(address))
    ])
  }

  /** A login succeeded: the account starts afresh. */
  async succeeded (account: string): Promise<void> {
    await this.#reset('account', account)
  }

  /**
   * An operator lifts an account's lockout (`hail user unlock`): its failures
   * are forgotten, as after a good login. The addresses the guessing came
   * from keep theirs: lifting them would lift the brake on the guesser.
   */
  async unlock (account: string): Promise<UnlockResult> {
    const { failures, windows } = this.#tables.account
    const [count, wait] = await Promise.all([failures.get(account), windows.get(account)])
    await this.#reset('account', account)
    return { wasLocked: wait !== null && wait.msBeforeNext > 0, failures: count?.consumedPoints ?? 0 }
  }

  /** Alone, how many accounts and addresses are remembered (in Redis: undefined, they live there). */
  get size (): { accounts: number, addresses: number } | undefined {
    const { account, address } = this.#tables
    if (account.recent === undefined || address.recent === undefined) return undefined
    return { accounts: account.recent.size, addresses: address.recent.size }
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  async #waitFor (kind: Kind, key: string): Promise<number> {
    const wait = await this.#tables[kind].windows.get(key)
    return wait === null ? 0 : Math.max(0, wait.msBeforeNext)
  }

  async #fail (kind: Kind, key: string): Promise<void> {
    const { failures, windows, recent } = this.#tables[kind]
    const { baseDelayMs, maxDelayMs, forgetAfterMs, maxEntries } = this.#options
    // Forgotten a quiet forgetAfterMs after the last failure, and never while a window is open.
    const forget = seconds(forgetAfterMs)
    const count = (await failures.penalty(key, 1, { customDuration: forget })).consumedPoints
    const over = count - this.#free[kind]
    const waitMs = over < 0 ? 0 : Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(over, 40))
    const keep = seconds(Math.max(forgetAfterMs, waitMs))
    // In Redis the count's own script renewed its expiry, atomically; a write of the count here
    // could put back one that nodes failing the same key at once had passed (an address guessing
    // on several nodes then never waited). A window longer than forgetAfterMs renews it again.
    if (recent === undefined && keep > forget) await failures.penalty(key, 0, { customDuration: keep })
    if (recent !== undefined) {
      // in memory penalty() keeps the first failure's expiry: this moves it
      await failures.set(key, count, keep)
      recent.delete(key)
      recent.set(key, true)
      while (recent.size > maxEntries) {
        const oldest = recent.keys().next().value!
        recent.delete(oldest)
        await Promise.all([failures.delete(oldest), windows.delete(oldest)])
      }
    }
    if (waitMs === 0) return
    // penalty() makes the key only when it is absent (atomically in Redis): that is the
    // failure that began a wait. Failures that raced it (checked before any failed) lengthen it.
    const window = await windows.penalty(key, 1, { customDuration: seconds(waitMs) })
    if (window.isFirstInDuration) {
      this.#onLockout?.(kind)
      return
    }
    if (window.msBeforeNext < waitMs) await windows.set(key, 1, seconds(waitMs))
  }

  async #reset (kind: Kind, key: string): Promise<void> {
    const { failures, windows, recent } = this.#tables[kind]
    recent?.delete(key)
    await Promise.all([failures.delete(key), windows.delete(key)])
  }
}

type Kind = 'account' | 'address'

interface FailureTable {
  failures: RateLimiterAbstract
  windows: RateLimiterAbstract
  recent: Map<string, true> | undefined
}

/** Whole seconds, at least one: Redis keeps no less (and a duration of 0 would never expire). */
function seconds (ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000))
}

/**
 * The key of a remote address: an IPv4-mapped IPv6 address as IPv4, and any
 * other IPv6 address as its /64, since one host commonly holds a whole /64.
 */
export function addressKey (address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  if (!isIPv6(address)) return address
  const hextets = expandIPv6(address.replace(/%.*$/, ''))
  return `${hextets.slice(0, 4).join(':')}::/64`
}

/** Eight hextets of an IPv6 address, '::' filled in and a trailing dotted IPv4 part converted. */
function expandIPv6 (address: string): string[] {
  let text = address
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].map((h) => parseInt(h, 16).toString(16))
}
