export type ReceiptKind = 'delivered' | 'read'

/** Cumulative: every seq up to `delivered` reached a device of the user; up to `read` was read. read <= delivered. */
export interface Receipt {
  delivered: number
  read: number
}

/**
 * Delivery and read receipts, one cumulative seq per (conversation, user,
 * kind). Writes are ordered but not synced: a receipt lost in a crash is
 * sent again by the client or the next delivery. One level instance per
 * database; Redis instances on every node sharing one Redis.
 */
export interface ReceiptStore {
  /**
   * Moves the user's `kind` seq up to `seq`; resolves true only if it moved.
   * Never moves backwards. Advancing read advances delivered with it. The
   * store does not know the log: the caller keeps seq <= the conversation's lastSeq.
   */
  advance: (conv: string, user: string, kind: ReceiptKind, seq: number) => Promise<boolean>
  /** { delivered: 0, read: 0 } when nothing was recorded. */
  get: (conv: string, user: string) => Promise<Receipt>
  /** Every user with a receipt in the conversation. */
  ofConversation: (conv: string) => Promise<Map<string, Receipt>>
  /** Forgets every receipt of the conversation (when it is deleted). */
  drop: (conv: string) => Promise<void>
  /** Waits for the writes in flight; the store must not be used afterwards. Does not close the database. */
  close: () => Promise<void>
}
