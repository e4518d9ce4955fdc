import type { Envelope } from '../protocol/index.js'
import type { Logger } from './logger.js'
import { Sequencer, type PushOutcome } from './sequencer.js'
import { SerialTask } from './serial-task.js'

/** One page of `sync` (docs/protocol.md, "Requests"). */
export interface SyncPage {
  messages: Envelope[]
  more: boolean
  lastSeq: number
  firstSeq: number
}

export interface ConversationFeedOptions {
  conv: string
  /** The saved cursor: the last seq this device has shown. */
  last: number
  /** Shows one message; called in seq order, once per seq. */
  deliver: (message: Envelope) => void
  /** Asks the server for messages with seq > after. */
  fetch: (after: number) => Promise<SyncPage>
  /** A sync that nobody awaits (one a gap started) failed. */
  onSyncError: (err: unknown) => void
  logger?: Logger
  /** Pages per sync pass at most: a guard against a server that always says `more`. */
  maxPages?: number
  /** How long a seq the server vouched for (expect()) may take to arrive live before a sync fetches it; default 2000 ms. */
  expectGraceMs?: number
}

/**
 * One conversation as a device sees it: a Sequencer fed by live deliveries
 * and by sync, and the sync loop. A gap starts one sync; triggers while a
 * sync runs share one follow-up pass (SerialTask); a follow-up that only a
 * gap asked for is skipped when the gap has closed by then.
 */
export class ConversationFeed {
  readonly conv: string
  readonly #sequencer: Sequencer<Envelope>
  readonly #fetch: (after: number) => Promise<SyncPage>
  readonly #onSyncError: (err: unknown) => void
  readonly #log: Logger
  readonly #maxPages: number
  readonly #task = new SerialTask(async () => await this.#pass())
  readonly #expectGraceMs: number
  /** Whether someone called sync() since the last pass began: then the pass runs even without a gap. */
  #asked = false
  /** The highest seq the server said exists, and the timer that checks it arrived. */
  #expected = 0
  #expectTimer: ReturnType<typeof setTimeout> | undefined
  /** A first page fetched for the next pass by someone else (`sync.all`), read before that pass began. */
  #prefetched: SyncPage | undefined

  constructor (options: ConversationFeedOptions) {
    this.conv = options.conv
    this.#sequencer = new Sequencer(options.deliver, options.last)
    this.#fetch = options.fetch
    this.#onSyncError = options.onSyncError
    this.#log = options.logger ?? (() => {})
    this.#maxPages = options.maxPages ?? 10_000
    this.#expectGraceMs = options.expectGraceMs ?? 2000
  }

  /** The last seq shown. */
  get last (): number {
    return this.#sequencer.last
  }

  get hasGap (): boolean {
    return this.#sequencer.hasGap
  }

  get syncing (): boolean {
    return this.#task.busy
  }

  /** A live message (inbox, channel feed): shown, dropped as a duplicate, or held while a sync fills the gap. */
  push (message: Envelope): PushOutcome {
    const outcome = this.#sequencer.push(message)
    if (outcome === 'held') {
      this.#log('debug', 'gap: syncing', { conv: this.conv, last: this.last, seq: message.seq })
      this.#task.run().catch(this.#onSyncError)
    }
    return outcome
  }

  /**
   * The server vouched that `seq` exists (the reply to this device's own
   * send, a receipt). A live copy normally follows at once; when the fast
   * path lost it and no later message reveals the gap, a sync after a grace
   * period fetches it instead of leaving it unseen until the next reconnect.
   */
  expect (seq: number): void {
    if (seq <= this.#sequencer.last || seq <= this.#expected) return
    this.#expected = seq
    if (this.#expectTimer !== undefined) return
    this.#expectTimer = setTimeout(() => {
      this.#expectTimer = undefined
      if (this.#expected <= this.#sequencer.last) return
      this.#log('debug', 'an expected message did not come live: syncing', { conv: this.conv, last: this.last, expected: this.#expected })
      this.sync().catch(this.#onSyncError)
    }, this.#expectGraceMs)
  }

  /** Stops the expect() timer. */
  close (): void {
    clearTimeout(this.#expectTimer)
    this.#expectTimer = undefined
  }

  /**
   * Pulls everything after the cursor, page by page, showing each new
   * message; `first`, when given, is the first page (one `sync.all` read for
   * every conversation), so the pass asks only for what it left.
   */
  async sync (first?: SyncPage): Promise<void> {
    this.#asked = true
    if (first !== undefined) this.#prefetched = first
    await this.#task.run()
  }

  async #pass (): Promise<void> {
    const asked = this.#asked
    this.#asked = false
    if (!asked && !this.#sequencer.hasGap) return
    // Held before this pass began, so in the log before its first read.
    const firstHeld = this.#sequencer.firstHeld
    let prefetched = this.#prefetched
    this.#prefetched = undefined
    let complete = false
    for (let page = 0; page < this.#maxPages && !complete; page++) {
      const fresh = prefetched === undefined
      const result = prefetched ?? await this.#fetch(this.#sequencer.last)
      prefetched = undefined
      this.#apply(result)
      // A page read before this pass began says nothing of a message held since: then read again.
      complete = !result.more && (fresh || firstHeld === undefined)
      if (fresh && result.messages.length === 0) break
    }
    if (complete && firstHeld !== undefined && this.#sequencer.last < firstHeld - 1) {
      // A complete sync that began after `firstHeld` was stored returned nothing
      // below it: those seqs are not visible to this user and never will be.
      const skipped = this.#sequencer.skipTo(firstHeld - 1)
      this.#log('warn', 'sync left a hole below a live message: skipped', { conv: this.conv, skipped, to: firstHeld - 1 })
    }
  }

  #apply (page: SyncPage): void {
    const sequencer = this.#sequencer
    // Seqs below firstSeq were pruned, or precede this user's membership.
    if (page.firstSeq - 1 > sequencer.last) sequencer.skipTo(page.firstSeq - 1)
    const messages = [...page.messages].sort((a, b) => a.seq - b.seq)
    for (const message of messages) {
      if (message.conv !== this.conv) continue
      // The log is read in order with no holes: whatever a page skips over is not there for us.
      if (message.seq > sequencer.last + 1) {
        const skipped = sequencer.skipTo(message.seq - 1)
        this.#log('debug', 'sync page starts past the cursor: skipped', { conv: this.conv, skipped })
      }
      sequencer.push(message)
    }
  }
}
