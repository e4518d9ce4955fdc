import { isIPv6 } from 'node:net'

export interface LoginGuardOptions {
  /** Failed logins an account may have before each further attempt waits (default 5). */
  accountFailures?: number
  /** The same for a remote address (default 20: people behind one NAT share it). */
  addressFailures?: number
  /** The first wait, doubled at each further failure (default 1 s). */
  baseDelayMs?: number
  /** The longest wait (default 15 min). */
  maxDelayMs?: number
  /** An account or address without failures for this long is forgotten (default 1 h). */
  forgetAfterMs?: number
  /** Most accounts, and most addresses, remembered; past it the longest quiet goes first (default 10,000). */
  maxEntries?: number
  /** Clock in milliseconds; tests move it instead of waiting. */
  now?: () => number
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
 * A success clears the account, not the address: an attacker with one
 * account of their own must not be able to wipe their address's record
 * between guesses at other accounts. Addresses are forgotten after a quiet
 * `forgetAfterMs` instead.
 *
 * Memory is bounded by `maxEntries` per kind, and expiry is lazy: no timer
 * keeps a process alive. Filling the account table with made-up names to
 * push a victim out takes thousands of failures, which the address
 * backoff spreads over hours.
 */
export class LoginGuard {
  readonly #accounts: FailureTable
  readonly #addresses: FailureTable
  readonly #now: () => number
  readonly #onLockout: ((by: 'account' | 'address') => void) | undefined

  constructor (options: LoginGuardOptions = {}) {
    const common = {
      baseDelayMs: options.baseDelayMs ?? 1000,
      maxDelayMs: options.maxDelayMs ?? 15 * 60_000,
      forgetAfterMs: options.forgetAfterMs ?? 60 * 60_000,
      maxEntries: options.maxEntries ?? 10_000
    }
    this.#accounts = new FailureTable({ ...common, freeFailures: options.accountFailures ?? 5 })
    this.#addresses = new FailureTable({ ...common, freeFailures: options.addressFailures ?? 20 })
    this.#now = options.now ?? Date.now
    this.#onLockout = options.onLockout
  }

  /** Whether an attempt may proceed to the password check now. */
  check (account: string | undefined, address: string | undefined): GuardVerdict {
    const now = this.#now()
    const byAccount = account === undefined ? 0 : this.#accounts.waitFor(account, now)
    const byAddress = address === undefined ? 0 : this.#addresses.waitFor(addressKey(address), now)
    if (byAccount === 0 && byAddress === 0) return { allowed: true }
    return byAccount >= byAddress
      ? { allowed: false, by: 'account', retryAfterMs: byAccount }
      : { allowed: false, by: 'address', retryAfterMs: byAddress }
  }

  /** A password or token was wrong. */
  failed (account: string | undefined, address: string | undefined): void {
    const now = this.#now()
    if (account !== undefined && this.#accounts.fail(account, now)) this.#onLockout?.('account')
    if (address !== undefined && this.#addresses.fail(addressKey(address), now)) this.#onLockout?.('address')
  }

  /** A login succeeded: the account starts afresh. */
  succeeded (account: string): void {
    this.#accounts.reset(account)
  }

  /**
   * An operator lifts an account's lockout (`hail user unlock`): its failures
   * are forgotten, as after a good login. The addresses the guessing came
   * from keep theirs: lifting them would lift the brake on the guesser.
   */
  unlock (account: string): UnlockResult {
    const now = this.#now()
    const entry = this.#accounts.peek(account, now)
    this.#accounts.reset(account)
    return { wasLocked: entry !== undefined && entry.blockedUntil > now, failures: entry?.failures ?? 0 }
  }

  /** How many accounts and addresses are remembered. */
  get size (): { accounts: number, addresses: number } {
    return { accounts: this.#accounts.size, addresses: this.#addresses.size }
  }
}

interface Entry {
  failures: number
  lastFailure: number
  blockedUntil: number
}

interface TableOptions {
  freeFailures: number
  baseDelayMs: number
  maxDelayMs: number
  forgetAfterMs: number
  maxEntries: number
}

/** Failures by key, in order of the last failure (a Map keeps insertion order; a failure re-inserts). */
class FailureTable {
  readonly #entries = new Map<string, Entry>()
  readonly #options: TableOptions

  constructor (options: TableOptions) {
    this.#options = options
  }

  get size (): number {
    return this.#entries.size
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  waitFor (key: string, now: number): number {
    const entry = this.#entries.get(key)
    if (entry === undefined) return 0
    if (this.#expired(entry, now)) {
      this.#entries.delete(key)
      return 0
    }
    return Math.max(0, entry.blockedUntil - now)
  }

  /** The entry of `key` unless forgotten. */
  peek (key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key)
    return entry === undefined || this.#expired(entry, now) ? undefined : entry
  }

  /** Counts a failure; returns whether it made `key` wait when it did not (a lockout begins). */
  fail (key: string, now: number): boolean {
    const { freeFailures, baseDelayMs, maxDelayMs, maxEntries } = this.#options
    let entry = this.#entries.get(key)
    if (entry === undefined || this.#expired(entry, now)) entry = { failures: 0, lastFailure: now, blockedUntil: 0 }
    const wasWaiting = entry.blockedUntil > now
    entry.failures++
    entry.lastFailure = now
    const over = entry.failures - freeFailures
    if (over >= 0) entry.blockedUntil = now + Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(over, 40))
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    this.#sweep(now)
    while (this.#entries.size > maxEntries) this.#entries.delete(this.#entries.keys().next().value!)
    return !wasWaiting && entry.blockedUntil > now
  }

  reset (key: string): void {
    this.#entries.delete(key)
  }

  #expired (entry: Entry, now: number): boolean {
    return now >= Math.max(entry.blockedUntil, entry.lastFailure + this.#options.forgetAfterMs)
  }

  /** Drop expired entries from the oldest end; stops at the first live one, so each call costs little. */
  #sweep (now: number): void {
    for (const [key, entry] of this.#entries) {
      if (!this.#expired(entry, now)) return
      this.#entries.delete(key)
    }
  }
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
