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
/** The longest a sender's PUBACK waits for room in the fan-out (room()). */
const MAX_HOLD_MS = 2000
/** How often a sender held for memory (room()) looks whether readers freed some. */
const MEMORY_POLL_MS = 20

export class Fanout {
  readonly #publisher: Publisher
  readonly #membership: Membership
  readonly #log: Logger
  readonly #onStored: OnStored | undefined
  readonly #chains = new Map<string, Promise<void>>()
  readonly #maxBacklog: number
  readonly #maxPerConversation: number
  /** Messages whose fan-out has not finished. */
  #backlog = 0
  /** Senders waiting for the whole backlog to fall (see room()). */
  #waiting: Array<() => void> = []
  /** Per conversation: messages whose fan-out has not finished, and the senders waiting for them. */
  readonly #convs = new Map<string, { count: number, waiting: Array<() => void> }>()
  /** Whether the deliveries held in memory (live-outgoing.ts) are past the node's bound. */
  readonly #memoryPressed: () => boolean

  /**
   * `maxBacklog` bounds the messages not yet fanned out on this node;
   * `maxPerConversation` those of one conversation, whose deliveries are
   * serial and wait for slow readers' sockets to drain: so a conversation
   * whose recipients do not keep up slows its own senders, not everyone.
   * `memoryPressed` says when the deliveries sent and not yet acknowledged
   * hold more memory than the node allows (limits.maxLiveQueueBytes): senders
   * wait then too, until readers' PUBACKs freed some.
   */
  constructor (publisher: Publisher, membership: Membership, logger: Logger, onStored?: OnStored, maxBacklog = Infinity, maxPerConversation = Infinity, memoryPressed: () => boolean = () => false) {
    this.#publisher = publisher
    this.#membership = membership
    this.#log = logger
    this.#onStored = onStored
    this.#maxBacklog = maxBacklog
    this.#maxPerConversation = maxPerConversation
    this.#memoryPressed = memoryPressed
  }

  /** Messages stored whose fan-out has not finished. */
  get backlog (): number {
    return this.#backlog
  }

  /**
   * Undefined while the node's backlog and `conv`'s are under their bounds;
   * else a promise that resolves once both are (a bound passed is left at
   * three quarters of it). The send path awaits it before the PUBACK (the
   * message is already in the log): past a bound, senders are slowed (aedes
   * reads no more of a client's socket while its publish is unanswered)
   * instead of the backlog and its memory growing without end.
   */
  room (conv: string): Promise<void> | undefined {
    if ((this.#convs.get(conv)?.count ?? 0) < this.#maxPerConversation && this.#backlog < this.#maxBacklog && !this.#memoryPressed()) return undefined
    const hold = { on: true }
    const freed = (async () => {
      while (hold.on) {
        const c = this.#convs.get(conv)
        if (c !== undefined && c.count >= this.#maxPerConversation) await new Promise<void>((resolve) => c.waiting.push(resolve))
        else if (this.#backlog >= this.#maxBacklog) await new Promise<void>((resolve) => this.#waiting.push(resolve))
        // memory is freed by readers' PUBACKs, which nothing here is told of: look again shortly
        else if (this.#memoryPressed()) await new Promise<void>((resolve) => setTimeout(resolve, MEMORY_POLL_MS))
        else return
      }
    })()
    // Held at most MAX_HOLD_MS: the message is in the log already, so a fan-out that does not
    // move (a delivery that never completes) slows its senders but never stops their PUBACKs
    // (a crash test once waited 120 s for acks behind one).
    let timer: NodeJS.Timeout | undefined
    const capped = new Promise<void>((resolve) => { timer = setTimeout(resolve, MAX_HOLD_MS) })
    return Promise.race([freed, capped]).finally(() => { hold.on = false; clearTimeout(timer) })
  }

  message (envelope: Envelope): void {
    // encoded once for every recipient; its Buffer carries the typed record to the PUBACK
    const payload = Publisher.encode({ type: 'message', msg: envelope })
    rememberMessage(payload, { conv: envelope.conv, seq: envelope.seq, from: envelope.from })
    if (this.#onStored !== undefined && !envelope.conv.startsWith('c:')) this.#told(this.#onStored, envelope)
    this.#backlog++
    const c = this.#convs.get(envelope.conv)
    if (c === undefined) this.#convs.set(envelope.conv, { count: 1, waiting: [] })
    else c.count++
    this.#chain(envelope.conv, async () => {
      if (envelope.conv.startsWith('c:')) {
        await this.#publisher.send(topics.feed(envelope.conv), payload)
        return
      }
      await Promise.all([...this.#membership.members(envelope.conv).keys()]
        .map(async (user) => await this.#publisher.send(topics.inbox(user, envelope.conv), payload)))
    })
  }

  #done (conv: string): void {
    this.#backlog--
    const c = this.#convs.get(conv)
    if (c !== undefined) {
      c.count--
      if (c.waiting.length > 0 && c.count <= this.#maxPerConversation * 0.75) for (const resolve of c.waiting.splice(0)) resolve()
      if (c.count <= 0 && c.waiting.length === 0) this.#convs.delete(conv)
    }
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
    }).finally(() => this.#done(conv))
    this.#chains.set(conv, next)
    void next.then(() => {
      if (this.#chains.get(conv) === next) this.#chains.delete(conv)
    })
  }
}
