import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { Envelope } from '../../protocol/index.js'
import type { PushToken } from '../im/store/push-token-store.js'
import { notificationOf, type PushBody, type PushNotification } from './push-notification.js'
import { WebhookSender } from './webhook-sender.js'

/** A user's batch goes out at once when it holds this many notifications. */
export const MAX_BATCH = 100

/** The authors of the log's own events (member joined, renamed ...): nobody is woken for those. */
const SYSTEM = '$system'

export interface PushHookOptions {
  /** The operator's push gateway. */
  url: string
  secret: string | null
  batchMs: number
  maxAttempts: number
  backoffMs: number
  timeoutMs: number
  /** Notifications waiting or being sent, all users together. */
  maxQueue: number
  /** Whether any device of the user is connected now. */
  isOnline: (user: string) => boolean
  /** The user's registered push tokens. */
  tokensOf: (user: string) => Promise<PushToken[]>
  logger: Logger
}

export interface PushHookEvents {
  /** The webhook accepted one user's batch; `seconds` from its first notification (see Batch.since) to the answer. */
  sent: [user: string, count: number, attempts: number, seconds: number]
  /** One user's batch was given up (attempts exhausted, or a 4xx); `seconds` as for sent. */
  failed: [user: string, count: number, reason: string, seconds: number]
  /** A POST failed and will be tried again. */
  retry: [user: string, attempt: number, reason: string]
  /** Notifications dropped: the queue was full, or the hook closed before they went out. */
  dropped: [count: number, reason: 'queue' | 'close']
}

interface Batch {
  notifications: PushNotification[]
  timer: NodeJS.Timeout
  /** performance.now() when its first notification came (its message was stored): push latency counts from here. */
  since: number
}

/**
 * Tells the operator's push gateway about messages stored for users none of
 * whose devices is connected (issue 7). The fan-out calls stored() and moves
 * on: nothing here blocks or fails a delivery. Notifications wait `batchMs`
 * per user so a burst becomes one POST; the POST is retried with backoff
 * (WebhookSender). Everything waiting or in flight is bounded by `maxQueue`;
 * beyond it notifications are dropped and counted — a push is a hint to wake
 * a device, which then syncs from the log, never the message itself.
 */
export class PushHook extends EventEmitter<PushHookEvents> {
  readonly #options: PushHookOptions
  readonly #sender: WebhookSender
  readonly #log: Logger
  readonly #batches = new Map<string, Batch>()
  readonly #inflight = new Set<Promise<void>>()
  #queued = 0
  #closed = false

  constructor (options: PushHookOptions) {
    super()
    this.#options = options
    this.#log = options.logger
    const { url, secret, maxAttempts, backoffMs, timeoutMs } = options
    this.#sender = new WebhookSender({ url, secret, maxAttempts, backoffMs, timeoutMs })
  }

  /** Notifications waiting for their batch or being sent. */
  get queued (): number {
    return this.#queued
  }

  /**
   * A message was stored in a conversation of `recipients` (its members but
   * the author). Those with no device connected get a notification.
   */
  stored (envelope: Envelope, recipients: Iterable<string>): void {
    if (this.#closed || envelope.from === SYSTEM) return
    let notification: PushNotification | undefined
    let dropped = 0
    for (const user of recipients) {
      if (user === envelope.from || this.#options.isOnline(user)) continue
      if (this.#queued >= this.#options.maxQueue) {
        dropped++
        continue
      }
      notification ??= notificationOf(envelope)
      this.#add(user, notification)
    }
    if (dropped > 0) {
      this.#log.warn({ dropped, conv: envelope.conv, seq: envelope.seq }, 'push queue full: notifications dropped')
      this.emit('dropped', dropped, 'queue')
    }
  }

  /** Stop: pending batches are dropped (counted), POSTs in flight and retries are aborted. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    let dropped = 0
    for (const batch of this.#batches.values()) {
      clearTimeout(batch.timer)
      dropped += batch.notifications.length
    }
    this.#batches.clear()
    this.#queued -= dropped
    this.#sender.abort()
    await Promise.all(this.#inflight)
    if (dropped > 0) {
      this.#log.info({ dropped }, 'push: notifications not sent before close')
      this.emit('dropped', dropped, 'close')
    }
  }

  #add (user: string, notification: PushNotification): void {
    this.#queued++
    let batch = this.#batches.get(user)
    if (batch === undefined) {
      const timer = setTimeout(() => this.#flush(user), this.#options.batchMs)
      timer.unref()
      batch = { notifications: [], timer, since: performance.now() }
      this.#batches.set(user, batch)
    }
    batch.notifications.push(notification)
    if (batch.notifications.length >= MAX_BATCH) this.#flush(user)
  }

  #flush (user: string): void {
    const batch = this.#batches.get(user)
    if (batch === undefined) return
    clearTimeout(batch.timer)
    this.#batches.delete(user)
    const count = batch.notifications.length
    const task = this.#deliver(user, batch.notifications, batch.since)
      .catch((err: unknown) => this.#log.error({ err, user }, 'push: delivery failed'))
      .finally(() => {
        this.#queued -= count
        this.#inflight.delete(task)
      })
    this.#inflight.add(task)
  }

  async #deliver (user: string, notifications: PushNotification[], since: number): Promise<void> {
    let tokens: PushBody['tokens'] = []
    try {
      tokens = (await this.#options.tokensOf(user)).map(({ device, token, platform }) => ({ device, token, platform }))
    } catch (err) {
      // A gateway can still reach the user by other means; send what we have.
      this.#log.warn({ err, user }, 'push: could not read the user\'s tokens')
    }
    const body: PushBody = { v: 1, user, notifications, tokens }
    const result = await this.#sender.send(JSON.stringify(body), (attempt, reason, delayMs) => {
      this.#log.debug({ user, attempt, reason, delayMs }, 'push: retrying')
      this.emit('retry', user, attempt, reason)
    })
    const seconds = (performance.now() - since) / 1000
    if (result.ok) {
      this.#log.debug({ user, count: notifications.length, attempts: result.attempts, seconds }, 'push: sent')
      this.emit('sent', user, notifications.length, result.attempts, seconds)
    } else if (result.aborted) {
      this.emit('dropped', notifications.length, 'close')
    } else {
      this.#log.warn({ user, count: notifications.length, attempts: result.attempts, reason: result.reason }, 'push: gave up')
      this.emit('failed', user, notifications.length, result.reason, seconds)
    }
  }
}
