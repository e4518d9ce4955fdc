import t from 'tap'
import { LevelKeyDirectory } from '../../../../broker/im/store/level-key-directory.js'
import { keyDirectorySuite } from './key-directory.abstract.js'
import { levelFactory } from './store-fixture.js'

keyDirectorySuite(t, levelFactory('im-keys', (db, groupCommit) => new LevelKeyDirectory(db, groupCommit)))
