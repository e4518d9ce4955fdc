import type { JournalEntry, JournalKey } from './journal.js'
import type { StoredPacket } from './packet-codec.js'

/**
 * The "PUBACK means durable" log DurablePublish writes before aedes may
 * acknowledge a QoS > 0 publish (durable-publish.ts). Two implementations run
 * one conformance suite (test/helpers/publish-journal-suite.ts): Journal, on
 * the node's level database, and RedisJournal, in Redis mode, where a failed
 * append (Redis down) withholds the PUBACK.
 */
export interface PublishJournal {
  /** Resolves with the entry's key once it is durable; keys grow, across restarts too. */
  append: (packet: StoredPacket) => Promise<JournalKey>
  /** Forgets an entry once aedes has stored what it carried. */
  complete: (key: JournalKey) => Promise<void>
  /** Entries not completed yet, oldest first. */
  pending: () => AsyncIterable<JournalEntry>
  /** Resolves once every append and completion issued so far has settled. */
  flush: () => Promise<void>
}
