import type { Recall } from './message-log.js'

/** A recalled message: where it is and who recalled it with which `delete`. */
export interface RecalledMessage {
  conv: string
  seq: number
  deleted: Recall
}

/**
 * Which messages were recalled, for the deliveries that still carry their
 * text: copies waiting in devices' MQTT offline queues (im/recalled-messages.ts
 * turns them into tombstones as they go out). Small (one entry per recall) and
 * only ever added to, so its size tells whether another node recalled
 * something since it was last read. Writes are synced.
 */
export interface RecallIndex {
  /** Records a recall; a second recall of the same message keeps the first entry. */
  add: (conv: string, seq: number, deleted: Recall) => Promise<void>
  /** Every entry, in no particular order. */
  list: () => Promise<RecalledMessage[]>
  /** How many entries there are (grows with each new one). */
  size: () => Promise<number>
  /** Waits for the writes in flight; the index must not be used afterwards. Does not close the database. */
  close: () => Promise<void>
}
