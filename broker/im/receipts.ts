import type { Logger } from 'pino'
import { topics } from '../../protocol/index.js'
import type { Membership } from './membership.js'
import { Publisher } from './publisher.js'
import type { ReceiptStore } from './store/receipt-store.js'

/**
 * Delivered and read receipts (DESIGN.md): cumulative per (conversation,
 * user). *Delivered* moves when one of the user's devices acknowledges a
 * message delivery; *read* when a device says so. Each move is told to the
 * members' inboxes (the reader's other devices included), in direct and
 * group conversations up to `fanoutLimit` members; channels have none.
 *
 * Receipts are positions, not messages (docs/protocol.md, "Receipts"): the
 * acknowledgements of one event-loop turn are coalesced into one advance
 * per (conversation, user), and the announcement goes out at QoS 0, never
 * through a durable queue. A device that missed one (offline, or the
 * server crashed) reads the current values from `conversations` and
 * `conv.members` after it reconnects.
 */
export class Receipts {
  readonly #store: ReceiptStore
  readonly #membership: Membership
  readonly #publisher: Publisher
  readonly #log: Logger
  readonly #fanoutLimit: number
  /** Delivered marks acknowledged this turn, by `conv\0user`: the highest seq. */
  #pending = new Map<string, { conv: string, user: string, seq: number }>()
  #flushing: Promise<void> | undefined
  #scheduled = false

  constructor (store: ReceiptStore, membership: Membership, publisher: Publisher, logger: Logger, fanoutLimit: number) {
    this.#store = store
    this.#membership = membership
    this.#publisher = publisher
    this.#log = logger
    this.#fanoutLimit = fanoutLimit
  }

  /**
   * A device of `user` acknowledged (PUBACK) the delivery of `seq`. Recorded
   * with the other acknowledgements of this turn; failures are logged.
   */
  delivered (conv: string, user: string, seq: number): void {
    const key = `${conv}\0${user}`
    const pending = this.#pending.get(key)
    if (pending === undefined) this.#pending.set(key, { conv, user, seq })
    else if (seq > pending.seq) pending.seq = seq
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      const batch = this.#pending
      this.#pending = new Map()
      const flushing = Promise.all([...batch.values()].map(async ({ conv, user, seq }) => {
        try {
          if (await this.#store.advance(conv, user, 'delivered', seq)) await this.#announce(conv, user)
        } catch (err) {
          this.#log.warn({ err, conv }, 'delivered receipt failed')
        }
      })).then(() => {})
      const all: Promise<void> = Promise.all([this.#flushing, flushing]).then(() => {
        if (this.#flushing === all) this.#flushing = undefined
      })
      this.#flushing = all
    })
  }

  /** `user` has read everything up to `seq`; returns the read mark now stored. */
  async read (conv: string, user: string, seq: number): Promise<number> {
    if (await this.#store.advance(conv, user, 'read', seq)) await this.#announce(conv, user)
    return (await this.#store.get(conv, user)).read
  }

  /** Wait for the delivered marks recorded so far (shutdown, tests). */
  async settle (): Promise<void> {
    while (this.#scheduled || this.#flushing !== undefined) {
      if (this.#scheduled) await new Promise<void>((resolve) => setImmediate(resolve))
      else await this.#flushing
    }
  }

  async #announce (conv: string, user: string): Promise<void> {
    if (conv.startsWith('c:')) return
    const members = this.#membership.members(conv)
    if (members.size > this.#fanoutLimit) return
    const { delivered, read } = await this.#store.get(conv, user)
    const payload = Publisher.encode({ type: 'receipt', conv, user, delivered, read })
    await Promise.all([...members.keys()].map(async (member) => {
      await this.#publisher.send(topics.inbox(member, conv), payload, 0).catch((err: unknown) => {
        this.#log.warn({ err, conv, member }, 'receipt delivery failed')
      })
    }))
  }
}
