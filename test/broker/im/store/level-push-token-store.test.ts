import t from 'tap'
import { LevelPushTokenStore } from '../../../../broker/im/store/level-push-token-store.js'
import { pushTokenStoreSuite } from './push-token-store.abstract.js'
import { levelFactory } from './store-fixture.js'

pushTokenStoreSuite(t, levelFactory('im-push-tokens', (db, groupCommit) => new LevelPushTokenStore(db, groupCommit)))
