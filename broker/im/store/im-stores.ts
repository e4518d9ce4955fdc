import type { ConversationStore } from './conversation-store.js'
import type { KeyDirectory } from './key-directory.js'
import type { MessageLog } from './message-log.js'
import type { PushTokenStore } from './push-token-store.js'
import type { RecallIndex } from './recall-index.js'
import type { ReceiptStore } from './receipt-store.js'

/**
 * Every store the IM engine uses; createLevelImStores() builds them on the
 * server's database, createRedisImStores() on a Redis client.
 */
export interface ImStores {
  log: MessageLog
  conversations: ConversationStore
  receipts: ReceiptStore
  keys: KeyDirectory
  pushTokens: PushTokenStore
  recalls: RecallIndex
  /** Waits for every write in flight; does not close the database. */
  close: () => Promise<void>
}
