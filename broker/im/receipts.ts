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
 */
export class Receipts {
  readonly #store: ReceiptStore
  readonly #membership: Membership
  readonly #publisher: Publisher
  readonly #log: Logger
  readonly #fanoutLimit: number

  constructor (store: ReceiptStore, membership: Membership, publisher: Publisher, logger: Logger, fanoutLimit: number) {
    this.#store = store
    this.#membership = membership
    this.#publisher = publisher
    this.#log = logger
    this.#fanoutLimit = fanoutLimit
  }

  /** A device of `user` acknowledged (PUBACK) the delivery of `seq`. */
  async delivered (conv: string, user: string, seq: number): Promise<void> {
    if (await this.#store.advance(conv, user, 'delivered', seq)) await this.#announce(conv, user)
  }

  /** `user` has read everything up to `seq`; returns the read mark now stored. */
  async read (conv: string, user: string, seq: number): Promise<number> {
    if (await this.#store.advance(conv, user, 'read', seq)) await this.#announce(conv, user)
    return (await this.#store.get(conv, user)).read
  }

  async #announce (conv: string, user: string): Promise<void> {
    if (conv.startsWith('c:')) return
    const members = this.#membership.members(conv)
    if (members.size > this.#fanoutLimit) return
    const { delivered, read } = await this.#store.get(conv, user)
    const payload = Publisher.encode({ type: 'receipt', conv, user, delivered, read })
    await Promise.all([...members.keys()].map(async (member) => {
      await this.#publisher.send(topics.inbox(member, conv), payload).catch((err: unknown) => {
        this.#log.warn({ err, conv, member }, 'receipt delivery failed')
      })
    }))
  }
}
