import { createHmac } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

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

/** Told before each retry (for metrics and logs). */
export type OnRetry = (attempt: number, reason: string, delayMs: number) => void

export type SendResult =
  | { ok: true, attempts: number }
  | { ok: false, attempts: number, reason: string, aborted: boolean }

/**
 * POSTs JSON bodies to one webhook. Network errors, timeouts, 5xx and 429
 * are retried with exponential backoff (with jitter, so a receiver that
 * comes back is not hit by every sender at once; a Retry-After is honoured
 * up to MAX_BACKOFF_MS); any other status is the receiver's final answer.
 * send() never throws. abort() ends every POST and wait at once.
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
    let reason = 'not sent'
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (this.#abort.signal.aborted) return { ok: false, attempts: attempt - 1, reason: 'closed', aborted: true }
      let retryAfterMs = 0
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers,
          body,
          // A redirect would re-send the notification somewhere nobody configured.
          redirect: 'manual',
          signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(timeoutMs)])
        })
        // Free the connection for the next POST; what the receiver says is not used.
        await res.body?.cancel().catch(() => {})
        if (res.status >= 200 && res.status < 300) return { ok: true, attempts: attempt }
        reason = `HTTP ${res.status}`
        if (res.status < 500 && res.status !== 429) return { ok: false, attempts: attempt, reason, aborted: false }
        retryAfterMs = retryAfter(res.headers.get('retry-after'))
      } catch (err) {
        if (this.#abort.signal.aborted) return { ok: false, attempts: attempt, reason: 'closed', aborted: true }
        reason = (err as Error).name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : describe(err)
      }
      if (attempt === maxAttempts) break
      const backoff = Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** (attempt - 1))
      const delayMs = Math.min(MAX_BACKOFF_MS, Math.max(retryAfterMs, backoff / 2 + Math.random() * backoff / 2))
      onRetry?.(attempt, reason, delayMs)
      try {
        await sleep(delayMs, undefined, { signal: this.#abort.signal, ref: false })
      } catch {
        return { ok: false, attempts: attempt, reason: 'closed', aborted: true }
      }
    }
    return { ok: false, attempts: maxAttempts, reason, aborted: false }
  }

  /** Ends every POST in flight and every wait for a retry. */
  abort (): void {
    this.#abort.abort()
  }
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
