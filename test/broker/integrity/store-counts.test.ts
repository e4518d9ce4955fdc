import t from 'tap'
import { join } from 'node:path'
import { Level } from 'level'
import mqtt from 'mqtt'
import { countStores } from '../../../broker/integrity/store-counts.js'
import { imServer, RawDevice } from '../../helpers/im-server.js'

t.test('countStores() finds each store where it writes: its prefixes follow the stores\' sublevels', async (t) => {
  const { server, port, dir } = await imServer(t, ['alice', 'bob'], { allowAnonymous: true })
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  await bob.end()
  const alice = await RawDevice.connect(t, port, 'alice', 'laptop')
  const { conv } = await alice.request('direct.open', { user: 'bob' })
  for (let i = 0; i < 3; i++) await alice.client.publishAsync(`im/send/${conv}`, JSON.stringify({ cid: `c${i}`, kind: 'text', body: { text: 'hi' } }), { qos: 1 })
  await alice.request('read', { conv, seq: 2 })
  await alice.end()
  const sensor = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'sensor', reconnectPeriod: 0 })
  await sensor.publishAsync('site/1', 'up', { qos: 1, retain: true })
  await sensor.endAsync()
  await server.close()

  const db = new Level<string, Buffer>(join(dir, 'data'), { valueEncoding: 'buffer' })
  await db.open()
  t.teardown(() => db.close())
  const { counts, error } = await countStores(db)
  t.equal(error, undefined)
  t.match(counts, { users: 2, conversations: 1, memberships: 2, messages: 3 }, 'users, the conversation, its members and messages')
  t.ok(counts.receipts >= 1, `alice's read receipt (${counts.receipts})`)
  t.ok(counts.subscriptions >= 2, `the persistent sessions' subscriptions (${counts.subscriptions})`)
  t.ok(counts.queued >= 3, `bob's offline phone's queue (${counts.queued})`)
  t.ok(counts.retained >= 1, `the retained message (${counts.retained}, with presence)`)
})
