import type { Logger } from 'pino'
import { topics } from '../../protocol/index.js'
import type { Membership } from './membership.js'
import type { Envelope } from '../../protocol/index.js'
import { rememberMessage } from './message-payloads.js'
import { Publisher } from './publisher.js'

/**
 * Told of each message stored in a direct or group conversation, with its
 * members but the author, when the fan-out starts (the push hook). Must not
 * block: it runs on the send path.
 */
export type OnStored = (envelope: Envelope, recipients: string[]) => void

/**
 * Delivers stored messages: into each member's inbox for direct and group
 * conversations (write diffusion: every device of every member, online or
 * queued), onto the live feed for channels (read diffusion: followers sync
 * from the log). Messages of one conversation are published one after the
 * other, in seq order, so the fast path rarely shows a device a gap; the
 * log and sync stay the truth when it does.
 */
export class Fanout {
  readonly #publisher: Publisher
  readonly #membership: Membership
  readonly #log: Logger
  readonly #onStored: OnStored | undefined
  readonly #chains = new Map<string, Promise<void>>()
  readonly #maxBacklog: number
  /** Messages whose fan-out has not finished. */
  #backlog = 0
  /** Senders waiting for the backlog to fall (see room()). */
  #waiting: Array<() => void> = []

  constructor (publisher: Publisher, membership: Membership, logger: Logger, onStored?: OnStored, maxBacklog = Infinity) {
    this.#publisher = publisher
    this.#membership = membership
    this.#log = logger
    this.#onStored = onStored
    this.#maxBacklog = maxBacklog
  }

  /** Messages stored whose fan-out has not finished. */
  get backlog (): number {
    return this.#backlog
  }

  /**
   * Resolves at once while the backlog is under its bound, else once it has
   * fallen to three quarters of it. The send path awaits it before the
   * PUBACK (the message is already in the log): past the bound, senders are
   * slowed (aedes reads no more of a client's socket while its publish is
   * unanswered) instead of the backlog and its memory growing without end.
   */
  room (): Promise<void> | undefined {
    if (this.#backlog < this.#maxBacklog) return undefined
    return new Promise((resolve) => this.#waiting.push(resolve))
  }

  message (envelope: Envelope): void {
    // encoded once for every recipient; its Buffer carries the typed record to the PUBACK
    const payload = Publisher.encode({ type: 'message', msg: envelope })
    rememberMessage(payload, { conv: envelope.conv, seq: envelope.seq, from: envelope.from })
    if (this.#onStored !== undefined && !envelope.conv.startsWith('c:')) this.#told(this.#onStored, envelope)
    this.#backlog++
    this.#chain(envelope.conv, async () => {
      if (envelope.conv.startsWith('c:')) {
        await this.#publisher.send(topics.feed(envelope.conv), payload)
        return
      }
      await Promise.all([...this.#membership.members(envelope.conv).keys()]
        .map(async (user) => await this.#publisher.send(topics.inbox(user, envelope.conv), payload)))
    })
  }

  #done (): void {
    this.#backlog--
    if (this.#waiting.length === 0 || this.#backlog > this.#maxBacklog * 0.75) return
    const waiting = this.#waiting
    this.#waiting = []
    for (const resolve of waiting) resolve()
  }

  /** Wait for every delivery started so far (used at shutdown and by tests). */
  async settle (): Promise<void> {
    await Promise.all(this.#chains.values())
  }

  /** Channels are read diffusion: followers are not told one by one. */
  #told (onStored: OnStored, envelope: Envelope): void {
    try {
      const recipients = [...this.#membership.members(envelope.conv).keys()].filter((user) => user !== envelope.from)
      if (recipients.length > 0) onStored(envelope, recipients)
    } catch (err) {
      // The hook (push) is a courtesy; delivery goes on whatever it does.
      this.#log.warn({ err, conv: envelope.conv }, 'onStored hook failed')
    }
  }

  #chain (conv: string, work: () => Promise<void>): void {
    const previous = this.#chains.get(conv) ?? Promise.resolve()
    const next = previous.then(work).catch((err: unknown) => {
      // The message is in the log; devices get it by sync.
      this.#log.warn({ err, conv }, 'fan-out failed')
    }).finally(() => this.#done())
    this.#chains.set(conv, next)
    void next.then(() => {
      if (this.#chains.get(conv) === next) this.#chains.delete(conv)
    })
  }
}
