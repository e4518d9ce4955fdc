import t from 'tap'
import { RedisRecallIndex } from '../../../../broker/im/store/redis-recall-index.js'
import type { RedisServer } from '../../../helpers/redis-server.js'
import { recallIndexSuite } from './recall-index.abstract.js'
import { redisFactory, startRedis } from './redis-fixture.js'

let server: RedisServer
t.before(async () => { server = await startRedis(t) })

recallIndexSuite(t, redisFactory(() => server, (client, prefix) => new RedisRecallIndex(client, { prefix })))
