/** Keys delivered by the drain that a live copy may still follow, per connection. */
const STREAMED_WINDOW = 4096
/** How long a caught-up connection's handover is kept for live copies of packets the drain already sent. */
const GRACE_MS = 10_000
/** Packets stored lately remembered (over all clients): those whose live copy may still be on its way. */
const RECENT_WINDOW = 8192
/** Stored during one drain and remembered; past it a live copy may repeat one the drain sends (QoS 1 allows it). */
const MAX_PENDING = 10_000

/** What a drain reports to, and asks (see OutgoingQueue.stream()). */
export interface DrainHooks {
  /** Whether to hand out this packet (by `brokerId:brokerCounter`); false: it went live already. */
  take: (key: string) => boolean
  /** Every packet stored so far was handed out: later ones go live. Called under the client's lock. */
  caughtUp: () => void
  /** The stream ended (caught up, or not: its reader went away). */
  ended: () => void
}

/** A delivered publish's identity: `brokerId:brokerCounter`. */
export function deliveryKey (packet: { brokerId?: unknown, brokerCounter?: unknown }): string | undefined {
  return typeof packet.brokerId === 'string' && packet.brokerId !== '' ? `${packet.brokerId}:${String(packet.brokerCounter)}` : undefined
}

/**
 * One connection of a persistent session taking over its stored queue: from
 * the CONNECT (fetchSubs) until its drain has read every packet stored for
 * it, packets stored meanwhile reach it through the drain, not live, so they
 * come in order after the older ones; and a packet is sent once per
 * connection whichever path reaches it first.
 */
class Handover {
  /** The connection registered when the CONNECT began (closed by the takeover). */
  readonly previous: unknown
  /** The connection, once aedes asked for its queue (emptyQueue). */
  client: object | undefined
  caughtUp = false
  // The sets below are made on first use: most sessions reconnect to an empty
  // queue and none is ever filled (every idle session paid for four).
  /** Stored for this client before the drain caught up: the drain sends them. */
  pending: Set<string> | undefined
  /** Sent by the drain (the newest STREAMED_WINDOW), with their place in `#order`. */
  streamed: Map<string, number> | undefined
  #order: string[] | undefined
  #count = 0
  /** Sent live before the drain caught up (few: published while the CONNECT ran). */
  live: Set<string> | undefined

  /** DrainHandovers' store count when the CONNECT began. */
  readonly since: number

  constructor (previous: unknown, since: number) {
    this.previous = previous
    this.since = since
  }

  /** The drain sent `key`: kept among the newest STREAMED_WINDOW (a ring: no walk over deleted entries). */
  remember (key: string): void {
    const order = this.#order ??= []
    const streamed = this.streamed ??= new Map()
    const slot = this.#count % STREAMED_WINDOW
    const old = order[slot]
    if (old !== undefined && streamed.get(old) === this.#count - STREAMED_WINDOW) streamed.delete(old)
    order[slot] = key
    streamed.set(key, this.#count++)
  }
}

/** A caught-up handover kept for live copies until `at` (ms, monotonic). */
interface Expiring { clientId: string, handover: Handover, at: number }

/**
 * The handovers of one persistence, by client id: what makes a reconnect
 * during a drain deliver each message once, in order (the queue side in
 * OutgoingQueue.stream, the live side in broker/wire/delivery-dedupe.ts).
 */
export class DrainHandovers {
  readonly #byId = new Map<string, Handover>()
  /**
   * `client \n key` of the packets stored lately: one stored just before a
   * CONNECT may be emitted after it restored the session's subscriptions,
   * and the drain sends it.
   */
  readonly #recent = new Map<string, number>()
  /** The recent keys by tick % RECENT_WINDOW, to forget the oldest without walking the map. */
  readonly #ring: string[] = []
  /** Counts stores: when each recent one happened, and when each handover began. */
  #tick = 0
  /**
   * Caught-up handovers in the order they caught up, each forgotten GRACE_MS
   * later by one timer for all of them (not one timer per connection).
   */
  #expiring: Expiring[] = []
  #expiringHead = 0
  #timer: NodeJS.Timeout | undefined

  /**
   * A persistent session's CONNECT began (aedes' fetchSubs): a fresh
   * handover. `previous` is the client aedes has registered under that id now.
   */
  connecting (clientId: string, previous: unknown): void {
    // an older handover still in its grace is replaced here, and its expiry then finds another in its place
    this.#byId.set(clientId, new Handover(previous, this.#tick))
  }

  /** A packet was stored for the client: the drain sends it if it has not caught up. */
  stored (clientId: string, key: string): void {
    const handover = this.#byId.get(clientId)
    if (handover !== undefined && !handover.caughtUp && (handover.pending?.size ?? 0) < MAX_PENDING) (handover.pending ??= new Set()).add(key)
    // also when pending: a CONNECT starting now replaces that handover
    const recent = clientId + '\n' + key
    const slot = this.#tick % RECENT_WINDOW
    const old = this.#ring[slot]
    if (old !== undefined && this.#recent.get(old) === this.#tick - RECENT_WINDOW) this.#recent.delete(old)
    this.#ring[slot] = recent
    this.#recent.set(recent, this.#tick++)
  }

  /**
   * Whether `client` is an older connection of its session than the one
   * taking over now: its messageId updates and acknowledgements must not
   * touch the queue the new one is being sent from.
   */
  stale (clientId: string, client: unknown): boolean {
    const handover = this.#byId.get(clientId)
    if (handover === undefined) return false
    return handover.client !== undefined ? handover.client !== client : handover.previous === client
  }

  /**
   * aedes asks for `client`'s queue. Returns what the stream reports to, or
   * undefined when no persistent CONNECT began for it (then the stream runs
   * as a plain snapshot).
   */
  streaming (clientId: string, client: object): DrainHooks | undefined {
    const handover = this.#byId.get(clientId)
    if (handover === undefined || (handover.client !== undefined && handover.client !== client)) return undefined
    handover.client = client
    return {
      take: (key) => {
        if (handover.live?.has(key) === true) return false
        handover.remember(key)
        return true
      },
      caughtUp: () => {
        handover.caughtUp = true
        handover.live = undefined
        this.#expire(clientId, handover)
      },
      ended: () => {
        // a drain cut short (the connection closed): nothing more to hand over
        if (!handover.caughtUp && this.#byId.get(clientId) === handover) this.#byId.delete(clientId)
      }
    }
  }

  /** Whether aedes may send `key` live to `client`. */
  takeLive (clientId: string, client: object, key: string): boolean {
    const handover = this.#byId.get(clientId)
    if (handover === undefined) return true
    // an older connection, closing: its copies are unacknowledged and sent again anyway
    if (this.stale(clientId, client)) return true
    if (handover.pending?.delete(key) === true) return false
    // stored before this CONNECT began: the drain read it
    const recent = clientId + '\n' + key
    const at = this.#recent.get(recent)
    if (at !== undefined && at < handover.since) {
      this.#recent.delete(recent)
      return false
    }
    if (handover.streamed?.has(key) === true) return false
    if (!handover.caughtUp) (handover.live ??= new Set()).add(key)
    return true
  }

  /** Forget `handover` GRACE_MS from now, unless another connection of its session replaced it. */
  #expire (clientId: string, handover: Handover): void {
    this.#expiring.push({ clientId, handover, at: performance.now() + GRACE_MS })
    if (this.#timer === undefined) this.#arm(GRACE_MS)
  }

  #arm (ms: number): void {
    this.#timer = setTimeout(() => { this.#sweep() }, ms)
    this.#timer.unref()
  }

  #sweep (): void {
    this.#timer = undefined
    const now = performance.now()
    const queue = this.#expiring
    while (this.#expiringHead < queue.length) {
      const next = queue[this.#expiringHead] as Expiring
      if (next.at > now) break
      queue[this.#expiringHead++] = undefined as unknown as Expiring
      if (this.#byId.get(next.clientId) === next.handover) this.#byId.delete(next.clientId)
    }
    if (this.#expiringHead === queue.length) {
      this.#expiring = []
      this.#expiringHead = 0
      return
    }
    if (this.#expiringHead > 1024 && this.#expiringHead * 2 > queue.length) {
      this.#expiring = queue.slice(this.#expiringHead)
      this.#expiringHead = 0
    }
    this.#arm(Math.max(1, (this.#expiring[this.#expiringHead] as Expiring).at - now))
  }
}
