/** Anything with a conversation seq: gapless, from 1 (docs/protocol.md, "The envelope"). */
export interface Sequenced {
  seq: number
}

/** What push() did with a message. */
export type PushOutcome =
  /** Shown now (with any held successors it unblocked). */
  | 'delivered'
  /** Already shown or already held: a QoS 1 redelivery, a sync overlap. */
  | 'duplicate'
  /** Held behind a gap until the missing seqs arrive or are skipped. */
  | 'held'

/**
 * Puts one conversation's messages in seq order, each exactly once
 * (docs/protocol.md, "Order, gaps and sync"). It knows nothing of MQTT or
 * sync: live and synced messages both go through push(), so a message that
 * arrives both ways, or a live one that overtakes a sync, is shown once and
 * in place. `last` is the cursor: the highest seq shown.
 */
export class Sequencer<M extends Sequenced> {
  readonly #deliver: (message: M) => void
  readonly #held = new Map<number, M>()
  #last: number

  constructor (deliver: (message: M) => void, last = 0) {
    if (!Number.isSafeInteger(last) || last < 0) throw new RangeError(`a cursor is a seq ≥ 0, not ${last}`)
    this.#deliver = deliver
    this.#last = last
  }

  /** The highest seq shown. */
  get last (): number {
    return this.#last
  }

  /** How many messages wait behind a gap. */
  get held (): number {
    return this.#held.size
  }

  /** Whether messages wait behind a gap: a sync should fill it. */
  get hasGap (): boolean {
    return this.#held.size > 0
  }

  /** The lowest seq waiting behind a gap, if any. */
  get firstHeld (): number | undefined {
    let lowest: number | undefined
    for (const seq of this.#held.keys()) if (lowest === undefined || seq < lowest) lowest = seq
    return lowest
  }

  push (message: M): PushOutcome {
    const seq = message.seq
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`a message seq is an integer ≥ 1, not ${seq}`)
    if (seq <= this.#last || this.#held.has(seq)) return 'duplicate'
    if (seq > this.#last + 1) {
      this.#held.set(seq, message)
      return 'held'
    }
    this.#show(message)
    this.#drain()
    return 'delivered'
  }

  /**
   * Declares that no seq up to `seq` is still to come (pruned from the log,
   * or before this user joined): held messages up to there are shown in
   * order, the cursor moves to `seq`, and held successors follow.
   * Returns how many seqs were skipped without a message.
   */
  skipTo (seq: number): number {
    if (seq <= this.#last) return 0
    let skipped = 0
    const below = [...this.#held.keys()].filter((s) => s <= seq).sort((a, b) => a - b)
    for (const s of below) {
      skipped += s - this.#last - 1
      const message = this.#held.get(s)!
      this.#held.delete(s)
      this.#show(message)
    }
    skipped += seq - this.#last
    this.#last = seq
    this.#drain()
    return skipped
  }

  #drain (): void {
    for (let next = this.#held.get(this.#last + 1); next !== undefined; next = this.#held.get(this.#last + 1)) {
      this.#held.delete(next.seq)
      this.#show(next)
    }
  }

  /** The cursor moves before the listener runs, so a listener that re-enters sees it moved. */
  #show (message: M): void {
    this.#last = message.seq
    this.#deliver(message)
  }
}
