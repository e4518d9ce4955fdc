// A stored message is the protocol's envelope (broker/im/protocol/events.ts):
// everything but `cid`, `kind` and `body` is stamped by the server.
import type { Envelope, Recall } from '../../../protocol/index.js'
export type { Envelope, Recall }

export interface Draft {
  from: string
  device: string
  cid: string
  kind: string
  body: unknown
  ts?: number
}

export interface AppendResult {
  envelope: Envelope
  /** True when (conv, from, cid) was appended before: `envelope` is that message, nothing new was stored. */
  duplicate: boolean
}

export interface ReadOptions {
  /** Return messages with seq > after (0 for the start). */
  after: number
  /** At most this many; default 100, capped at READ_LIMIT_MAX. */
  limit?: number
}

export interface ReadResult {
  /** Ascending seq, consecutive (the log has no holes). */
  messages: Envelope[]
  /** Whether messages after the last one returned exist. */
  more: boolean
  /** The newest seq of the conversation (0 when none was ever appended). */
  lastSeq: number
  /**
   * The oldest seq still stored: 1 unless pruned. When firstSeq > after + 1
   * the messages between were pruned and can never be read. When everything
   * was pruned, firstSeq is lastSeq + 1.
   */
  firstSeq: number
}

export interface PruneOptions {
  /** Keep at most this many newest messages (0 erases the history). */
  maxCount?: number
  /**
   * Remove messages with ts < now - maxAgeMs, from the oldest, stopping at
   * the first younger one: what remains stays a gapless run of seqs, so a
   * message with a caller-given old ts behind a young one stays.
   */
  maxAgeMs?: number
  /** The time to measure age from (default Date.now()). */
  now?: number
}

export interface RecallOptions {
  /** Look for edits only after this seq (default: the recalled seq), when the caller knows of none before it. */
  editsAfter?: number
}

export const READ_LIMIT_DEFAULT = 100
export const READ_LIMIT_MAX = 500

/**
 * The conversation log: the truth behind sync and history (DESIGN
 * invariants 1, 3, 4). LevelMessageLog: one instance per database, it
 * keeps each conversation's counters in memory. RedisMessageLog keeps
 * nothing in memory: one per node, all nodes sharing one Redis.
 */
export interface MessageLog {
  /**
   * Appends a message, durably: when the promise resolves the message and
   * its idempotency key are synced to disk in one batch. Appends to one
   * conversation get consecutive seqs in call order; appends to different
   * conversations proceed in parallel. A repeated (conv, from, cid) returns
   * the stored envelope with `duplicate: true`, as long as that message has
   * not been pruned.
   */
  append: (conv: string, draft: Draft) => Promise<AppendResult>
  /** Messages with seq > after, ascending. */
  read: (conv: string, options: ReadOptions) => Promise<ReadResult>
  /** The newest seq appended to `conv` (0 if none); never goes down, not even by pruning. */
  lastSeq: (conv: string) => Promise<number>
  /** One message, or undefined when it does not exist or was pruned. */
  get: (conv: string, seq: number) => Promise<Envelope | undefined>
  /**
   * Recalls message `seq`: it becomes a tombstone (broker/im/store/tombstone.ts:
   * body erased, `deleted` set, seq, from, cid, ts and kind kept), and so
   * does every edit of it stored so far, durably when the promise resolves.
   * The target is overwritten before the edits are looked for, so an edit
   * appended meanwhile is either erased here or finds the target a
   * tombstone afterwards (and recall() again erases it). Recalling a
   * tombstone again keeps its first `deleted` and erases edits stored since.
   * Resolves with the tombstone, or undefined when there is no message `seq`
   * (never appended, or pruned): nothing is written then.
   */
  recall: (conv: string, seq: number, deleted: Recall, options?: RecallOptions) => Promise<Envelope | undefined>
  /**
   * Removes the oldest messages beyond `maxCount` and/or older than
   * `maxAgeMs` with their idempotency keys; seqs are never reused.
   * Resolves with how many were removed.
   */
  prune: (conv: string, options: PruneOptions) => Promise<number>
  /** Waits for the writes in flight; the log must not be used afterwards. Does not close the database. */
  close: () => Promise<void>
}
