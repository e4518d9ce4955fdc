import t from 'tap'
import { LevelRecallIndex } from '../../../../broker/im/store/level-recall-index.js'
import { recallIndexSuite } from './recall-index.abstract.js'
import { levelFactory } from './store-fixture.js'

recallIndexSuite(t, levelFactory('im-recalled', (db, groupCommit) => new LevelRecallIndex(db, groupCommit)))
