import t from 'tap'
import { LevelReceiptStore } from '../../../../broker/im/store/level-receipt-store.js'
import { receiptStoreSuite } from './receipt-store.abstract.js'
import { levelFactory } from './store-fixture.js'

// as the server builds it: its own unsynced group commit on its sublevel
receiptStoreSuite(t, levelFactory('im-receipts', (db) => new LevelReceiptStore(db)))

t.test('with a cache of one entry, receipts still never go backwards', async (t) => {
  receiptStoreSuite(t, levelFactory('im-receipts', (db) => new LevelReceiptStore(db, { cacheSize: 1 })))
})
