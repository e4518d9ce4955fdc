import t from 'tap'
import { LevelConversationStore } from '../../../../broker/im/store/level-conversation-store.js'
import { conversationStoreSuite } from './conversation-store.abstract.js'
import { levelFactory } from './store-fixture.js'

conversationStoreSuite(t, levelFactory('im-conv', (db, groupCommit) => new LevelConversationStore(db, groupCommit)))

t.test('with caches of one entry, answers stay right', async (t) => {
  // every lookup misses or evicts: coherence must not depend on the cache holding everything
  conversationStoreSuite(t, levelFactory('im-conv', (db, groupCommit) => new LevelConversationStore(db, groupCommit, {
    memberCacheSize: 1, listCacheSize: 1, contactCacheSize: 1, convCacheSize: 1
  })))
})
