import type { GroupCommit, LevelDatabase } from '../../storage/index.js'
import type { ImStores } from './im-stores.js'
import { LevelConversationStore, type LevelConversationStoreOptions } from './level-conversation-store.js'
import { LevelKeyDirectory } from './level-key-directory.js'
import { LevelMessageLog, type LevelMessageLogOptions } from './level-message-log.js'
import { LevelPushTokenStore } from './level-push-token-store.js'
import { LevelRecallIndex } from './level-recall-index.js'
import { LevelReceiptStore, type LevelReceiptStoreOptions } from './level-receipt-store.js'

export interface LevelImStoresOptions {
  log?: LevelMessageLogOptions
  conversations?: LevelConversationStoreOptions
  receipts?: Omit<LevelReceiptStoreOptions, 'groupCommit'>
}

/** The sublevels of the server's database that the IM stores use. */
export const IM_SUBLEVELS = {
  log: 'im-log',
  conversations: 'im-conv',
  receipts: 'im-receipts',
  keys: 'im-keys',
  pushTokens: 'im-push-tokens',
  recalls: 'im-recalled'
} as const

/**
 * Every IM store on its own sublevel of `db` (the server's one database);
 * log, conversations, keys, push tokens and recalls write through `groupCommit` (synced), receipts
 * through an unsynced group commit of their own.
 */
export function createLevelImStores (db: LevelDatabase, groupCommit: GroupCommit, options: LevelImStoresOptions = {}): ImStores {
  const sublevel = (name: string): LevelDatabase => db.sublevel<string, string>(name, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  const log = new LevelMessageLog(sublevel(IM_SUBLEVELS.log), groupCommit, options.log)
  const conversations = new LevelConversationStore(sublevel(IM_SUBLEVELS.conversations), groupCommit, options.conversations)
  const receipts = new LevelReceiptStore(sublevel(IM_SUBLEVELS.receipts), options.receipts)
  const keys = new LevelKeyDirectory(sublevel(IM_SUBLEVELS.keys), groupCommit)
  const pushTokens = new LevelPushTokenStore(sublevel(IM_SUBLEVELS.pushTokens), groupCommit)
  const recalls = new LevelRecallIndex(sublevel(IM_SUBLEVELS.recalls), groupCommit)
  return {
    log,
    conversations,
    receipts,
    keys,
    pushTokens,
    recalls,
    async close () {
      await Promise.all([log.close(), conversations.close(), receipts.close(), keys.close(), pushTokens.close(), recalls.close()])
    }
  }
}
