import { createHmac } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import pRetry, { AbortError } from 'p-retry'

/** The longest wait between two attempts, whatever the backoff or Retry-After say. */
export const MAX_BACKOFF_MS = 30_000

export interface WebhookSenderOptions {
  url: string
  /** Signs each body: `x-hail-signature: sha256=<hex HMAC-SHA256>`. */
  secret: string | null
  maxAttempts: number
  /** Wait before the first retry; doubled for each further one. */
  backoffMs: number
  /** Limit of one POST, response included. */
  timeoutMs: number
}

/** Told before each retry (for metrics and logs); `delayMs` is the least wait before it (the backoff adds its jitter). */
export type OnRetry = (attempt: number, reason: string, delayMs: number) => void

export type SendResult =
  | { ok: true, attempts: number }
  | { ok: false, attempts: number, reason: string, aborted: boolean }

/** A POST answered with a status that may be retried (5xx, 429). */
class RetryableStatus extends Error {
  constructor (readonly status: number, readonly retryAfterMs: number) {
    super(`HTTP ${status}`)
  }
}

/**
 * POSTs JSON bodies to one webhook. Network errors, timeouts, 5xx and 429
 * are retried with exponential backoff (with jitter, so a receiver that
 * comes back is not hit by every sender at once; a Retry-After is honoured
 * up to MAX_BACKOFF_MS); any other status is the receiver's final answer.
 * send() never throws. abort() ends every POST and wait at once.
 *
 * The retry loop is p-retry's: attempts, the jittered backoff (between half
 * and all of backoffMs · 2^(n-1), as before), unref'd waits, and the abort
 * signal ending a wait. Each POST is bounded by AbortSignal.timeout. What
 * p-retry does not know is Retry-After: its excess over the backoff's least
 * wait is waited in onFailedAttempt, before p-retry's own wait.
 */
export class WebhookSender {
  readonly #options: WebhookSenderOptions
  readonly #abort = new AbortController()

  constructor (options: WebhookSenderOptions) {
    this.#options = options
  }

  /** The signature header value of `body`, as the receiver should recompute it. */
  static sign (secret: string, body: string): string {
    return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
  }

  async send (body: string, onRetry?: OnRetry): Promise<SendResult> {
    const { url, secret, maxAttempts, backoffMs, timeoutMs } = this.#options
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'hail-push/1' }
    if (secret !== null) headers['x-hail-signature'] = WebhookSender.sign(secret, body)
    const signal = this.#abort.signal
    let attempts = 0
    const post = async (attempt: number): Promise<void> => {
      attempts = attempt
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        // A redirect would re-send the notification somewhere nobody configured.
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
      })
      // Free the connection for the next POST; what the receiver says is not used.
      await res.body?.cancel().catch(() => {})
      if (res.status >= 200 && res.status < 300) return
      if (res.status < 500 && res.status !== 429) throw new AbortError(`HTTP ${res.status}`)
      throw new RetryableStatus(res.status, retryAfter(res.headers.get('retry-after')))
    }
    /** The least wait p-retry makes before attempt n + 1. */
    const leastBackoff = (n: number): number => Math.min(MAX_BACKOFF_MS, backoffMs / 2 * 2 ** (n - 1))
    try {
      await pRetry(post, {
        retries: maxAttempts - 1,
        factor: 2,
        minTimeout: backoffMs / 2,
        maxTimeout: MAX_BACKOFF_MS,
        randomize: true,
        signal,
        unref: true,
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft === 0 || signal.aborted) return
          const least = leastBackoff(attemptNumber)
          const extra = error instanceof RetryableStatus ? Math.max(0, Math.min(MAX_BACKOFF_MS, error.retryAfterMs) - least) : 0
          onRetry?.(attemptNumber, reasonOf(error, timeoutMs), least + extra)
          if (extra > 0) await sleep(extra, undefined, { signal, ref: false })
        }
      })
      return { ok: true, attempts }
    } catch (err) {
      if (signal.aborted) return { ok: false, attempts, reason: 'closed', aborted: true }
      return { ok: false, attempts, reason: reasonOf(err, timeoutMs), aborted: false }
    }
  }

  /** Ends every POST in flight and every wait for a retry. */
  abort (): void {
    this.#abort.abort()
  }
}

function reasonOf (err: unknown, timeoutMs: number): string {
  if (err instanceof RetryableStatus) return err.message
  if ((err as Error).name === 'TimeoutError') return `timed out after ${timeoutMs} ms`
  return describe(err)
}

/** Retry-After in seconds (RFC 9110 §10.2.3); an HTTP date is ignored. */
function retryAfter (value: string | null): number {
  if (value === null || !/^\d+$/.test(value.trim())) return 0
  return Number(value.trim()) * 1000
}

function describe (err: unknown): string {
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err)
}
