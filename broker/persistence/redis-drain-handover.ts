import type { LiveHandovers } from '../wire/delivery-dedupe.js'

/** Keys sent by a drain that a live copy may still follow, per connection. */
const STREAMED_WINDOW = 4096
/** How long a caught-up connection's handover is kept for live copies of packets its drain sent. */
const GRACE_MS = 10_000

/** One connection of a persistent session taking over its queue in Redis. */
export class RedisHandover {
  caughtUp = false
  /** Live copies dropped before the drain caught up: each one is in the queue, and a drain round must follow it. */
  drops = 0
  readonly #streamed = new Set<string>()
  readonly #order: string[] = []
  #count = 0
  timer: NodeJS.Timeout | undefined

  /** The drain sent `key` (`brokerId:brokerCounter`): kept among the newest STREAMED_WINDOW. */
  remember (key: string): void {
    const slot = this.#count++ % STREAMED_WINDOW
    const old = this.#order[slot]
    if (old !== undefined) this.#streamed.delete(old)
    this.#order[slot] = key
    this.#streamed.add(key)
  }

  sent (key: string): boolean {
    return this.#streamed.has(key)
  }
}

/**
 * What makes a persistent session that comes back on any node get its queue
 * once and in order in Redis mode (issue 18: offline on A, a burst through C,
 * back on B right after the last PUBACK gave duplicates and reordering, and
 * a live copy written before the CONNACK, which stalled mqtt.js for good).
 *
 * Every QoS > 0 copy for a persistent session is stored in its queue before
 * it is emitted (aedes enqueues, then emits; the enqueue is one script), so
 * from the CONNECT until the drain has caught up, a live copy is dropped: the
 * queue holds it, and the drain reads the queue again after every drop
 * (RedisPersistence.outgoingStream) until a read finds nothing new with no
 * drop in between. After that, live copies flow, but not those the drain
 * already sent.
 */
export class RedisDrainHandovers implements LiveHandovers {
  readonly #byId = new Map<string, RedisHandover>()

  /** A persistent session's CONNECT began (aedes' fetchSubs). */
  connecting (clientId: string): void {
    const old = this.#byId.get(clientId)
    if (old !== undefined) clearTimeout(old.timer)
    this.#byId.set(clientId, new RedisHandover())
  }

  /** The handover a drain for `clientId` reports to, if its CONNECT began here. */
  draining (clientId: string): RedisHandover | undefined {
    const handover = this.#byId.get(clientId)
    return handover !== undefined && !handover.caughtUp ? handover : undefined
  }

  caughtUp (clientId: string, handover: RedisHandover): void {
    handover.caughtUp = true
    handover.timer = setTimeout(() => {
      if (this.#byId.get(clientId) === handover) this.#byId.delete(clientId)
    }, GRACE_MS)
    handover.timer.unref()
  }

  /** The drain stopped before it caught up (its connection went). */
  ended (clientId: string, handover: RedisHandover): void {
    if (!handover.caughtUp && this.#byId.get(clientId) === handover) this.#byId.delete(clientId)
  }

  takeLive (clientId: string, _client: object, key: string): boolean {
    const handover = this.#byId.get(clientId)
    if (handover === undefined) return true
    if (!handover.caughtUp) {
      handover.drops++
      return false
    }
    return !handover.sent(key)
  }
}
