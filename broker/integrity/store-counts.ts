import type { LevelDatabase } from '../storage/index.js'

/**
 * The stores an operator counts, by the key prefix of their sublevel in the
 * one database (a sublevel `a` of a sublevel `b` keys as `!b!!a!`). They
 * mirror the sublevels the stores open (users/level-user-store.ts,
 * im/store/level-im-stores.ts and its stores' key schemes,
 * persistence/level-persistence.ts, persistence/journal.ts, files/);
 * test/broker/integrity/store-counts.test.ts fails when one moves.
 */
export const COUNTED_STORES = [
  ['users', '!users!!account!'],
  ['conversations', '!im-conv!c!'],
  ['memberships', '!im-conv!m!'],
  ['messages', '!im-log!m!'],
  ['receipts', '!im-receipts!'],
  ['public keys', '!im-keys!'],
  ['push tokens', '!im-push-tokens!'],
  ['retained', '!mqtt!!retained!'],
  ['queued', '!mqtt!!outgoing!!q!'],
  ['subscriptions', '!mqtt!!subs!'],
  ['journal', '!journal!'],
  ['files', '!files!']
] as const

export type StoreName = typeof COUNTED_STORES[number][0]

export interface StoreCounts {
  counts: Record<StoreName, number>
  /** Keys of any other kind (indexes, stamps, the seal). */
  other: number
  /** Why reading stopped early, when it did: the counts are then what was read before. */
  error?: string
}

const PREFIXES = COUNTED_STORES.map(([name, prefix]) => [name, Buffer.from(prefix, 'latin1')] as const)

/** Reads every key of the database once (a snapshot: writes meanwhile are not seen) and counts them per store. */
export async function countStores (db: LevelDatabase): Promise<StoreCounts> {
  const counts = Object.fromEntries(COUNTED_STORES.map(([name]) => [name, 0])) as Record<StoreName, number>
  const result: StoreCounts = { counts, other: 0 }
  let last: Buffer | undefined
  try {
    for await (const key of db.keys({ keyEncoding: 'buffer' }) as AsyncIterable<Buffer>) {
      last = key
      const store = PREFIXES.find(([, prefix]) => key.length >= prefix.length && key.subarray(0, prefix.length).equals(prefix))
      if (store === undefined) result.other++
      else counts[store[0]]++
    }
  } catch (err) {
    const after = last === undefined ? 'at the first key' : `after key ${JSON.stringify(last.toString('latin1').slice(0, 80))}`
    result.error = `reading stopped ${after}: ${(err as Error).message}`
  }
  return result
}
