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
/** enter(): how many looks, MAX_HOLD_MS apart in all, must find nothing moved before waiting sends go on anyway. */
const STILL_LOOKS = 4
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
  /** Sends admitted (enter()) whose message is not stored yet (or that were refused): parsed, being stored. */
  #inFlight = 0
  /** Sends waiting to be admitted, first come first served: #queue[#head] is next (no shift(): O(n) on a long array). */
  #queue: Array<() => void> = []
  #head = 0
  /** The most sends in flight plus messages not fanned out at once (the bound enter() keeps). */
  #peak = 0
  /** Sends admitted past the bound because nothing moved for MAX_HOLD_MS (see #unstick). */
  #forced = 0
  /** Sends answered and fan-outs finished, counted: #unstick looks whether it changed. */
  #moves = 0
  /** What #moves was at #unstick's last look, and how many looks in a row found it unchanged. */
  #movesSeen = 0
  #still = 0
  #stuckTimer: NodeJS.Timeout | undefined

  /**
   * `maxBacklog` bounds the sends being handled (enter()) plus the
   * messages not yet fanned out on this node;
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

  /** Sends admitted by enter() whose admission was not given back yet (see enter()). */
  get inFlight (): number {
    return this.#inFlight
  }

  /** Sends waiting in enter() to be admitted. */
  get waiting (): number {
    return this.#queue.length - this.#head
  }

  /** The most sends in flight plus messages not fanned out at once since start: enter() keeps it to maxBacklog (plus what #unstick let through). */
  get peak (): number {
    return this.#peak
  }

  /** Sends admitted past the bound because neither a send nor a fan-out finished for MAX_HOLD_MS. */
  get forced (): number {
    return this.#forced
  }

  /**
   * Admission of a send (im/send), before anything of it is parsed or
   * stored: undefined when it may go on now, else a promise that resolves
   * when it may. Sends in flight plus messages not yet fanned out stay
   * under `maxBacklog`; past it, sends wait here in arrival order, as the
   * raw packet aedes parsed and nothing more. aedes reads no more of a
   * client's socket until every publish it read in one chunk is answered,
   * so a sender that waits here is not read either: the memory held is that
   * bound's, plus at most one read chunk per connection, however long the
   * overload lasts (issue 12: the per-message hold of room() alone, capped
   * at MAX_HOLD_MS, let each sender's next chunk in every 2 s, and the
   * publishes in flight grew to 2.7 GiB in chat-overload).
   * `done` gives the admission back once the send is answered; calling it
   * again does nothing. `done(true)` right before the send's message() hands
   * the admission over to the backlog: nobody else is admitted in between.
   */
  enter (): { admitted: Promise<void> | undefined, done: (handing?: boolean) => void } {
    let open = true
    const done = (handing = false): void => {
      if (!open) return
      open = false
      this.#inFlight--
      if (!handing) this.#moved()
    }
    if (this.waiting === 0 && this.#inFlight + this.#backlog < this.#maxBacklog) {
      this.#admit()
      return { admitted: undefined, done }
    }
    const admitted = new Promise<void>((resolve) => this.#queue.push(resolve))
    if (this.#stuckTimer === undefined) {
      this.#still = 0
      this.#movesSeen = this.#moves
      ;(this.#stuckTimer = setInterval(() => this.#unstick(), MAX_HOLD_MS / STILL_LOOKS)).unref()
    }
    return { admitted, done }
  }

  #admit (): void {
    this.#inFlight++
    const load = this.#inFlight + this.#backlog
    if (load > this.#peak) this.#peak = load
  }

  /** A send left or a fan-out finished: admit who fits, in order. */
  #moved (): void {
    this.#moves++
    if (this.waiting === 0) return
    while (this.#head < this.#queue.length && this.#inFlight + this.#backlog < this.#maxBacklog) {
      this.#admit()
      const resolve = this.#queue[this.#head]!
      this.#queue[this.#head++] = noop
      resolve()
    }
    if (this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
      this.#stopTimer()
    } else if (this.#head >= 4096 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  /**
   * Neither a send nor a fan-out finished for MAX_HOLD_MS while sends wait
   * (a delivery that never completes): the waiting sends go on past the
   * bound, as room() lets PUBACKs go, so a stuck fan-out slows senders but
   * never stops them (a crash test once waited 120 s for acks behind one).
   * Counted in looks of a timer, not in wall time: an event loop that was
   * blocked (a long GC under load) did not run the fan-out either, and its
   * timer's missed looks come back as one.
   */
  #unstick (): void {
    if (this.waiting === 0) return this.#stopTimer()
    if (this.#moves !== this.#movesSeen) {
      this.#movesSeen = this.#moves
      this.#still = 0
      return
    }
    if (++this.#still < STILL_LOOKS) return
    this.#still = 0
    const queue = this.#queue.slice(this.#head)
    this.#queue = []
    this.#head = 0
    this.#forced += queue.length
    this.#log.warn({ sends: queue.length, inFlight: this.#inFlight, backlog: this.#backlog }, 'no send nor fan-out finished for 2 s: the waiting sends go on past the bound')
    for (const resolve of queue) {
      this.#admit()
      resolve()
    }
    this.#stopTimer()
  }

  #stopTimer (): void {
    if (this.#stuckTimer !== undefined) clearInterval(this.#stuckTimer)
    this.#stuckTimer = undefined
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
    if (this.#inFlight + this.#backlog > this.#peak) this.#peak = this.#inFlight + this.#backlog
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
    this.#moved()
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

function noop (): void {}
