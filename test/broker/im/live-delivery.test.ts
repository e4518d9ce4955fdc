import t from 'tap'
import { isLiveImDelivery } from '../../../broker/im/live-delivery.js'
import { topics } from '../../../protocol/index.js'
import { Publisher } from '../../../broker/im/publisher.js'
import type { Envelope } from '../../../protocol/index.js'

const conv = 'd:alice:bob'
const msg: Envelope = { id: `${conv}/1`, conv, seq: 1, from: 'alice', device: 'phone', cid: 'c1', ts: 1, kind: 'text', body: { text: 'hi' } } as Envelope
const packet = (topic: string, payload: Buffer) => ({ cmd: 'publish', topic, payload, qos: 1 })

t.test('a message in a conversation inbox may skip the durable queue: the log and sync bring it back', async (t) => {
  const payload = Publisher.encode({ type: 'message', msg })
  t.ok(isLiveImDelivery(packet(topics.inbox('bob', conv), payload)))
  t.ok(isLiveImDelivery(packet(topics.inbox('alice', conv), payload)), 'the author\'s own devices too')
})

t.test('a receipt about the inbox\'s own user may skip it: conversations returns the user\'s own marks', async (t) => {
  const own = Publisher.encode({ type: 'receipt', conv, user: 'bob', delivered: 1, read: 0 })
  t.ok(isLiveImDelivery(packet(topics.inbox('bob', conv), own)))
})

t.test('what nothing else brings back keeps the durable queue', async (t) => {
  const other = Publisher.encode({ type: 'receipt', conv, user: 'bob', delivered: 1, read: 0 })
  t.notOk(isLiveImDelivery(packet(topics.inbox('alice', conv), other)), 'a receipt about another user')
  t.notOk(isLiveImDelivery(packet(topics.inbox('bob', 'd:bob:carol'), other)), 'a receipt whose conv is not the topic\'s')
  t.notOk(isLiveImDelivery(packet(topics.inbox('bob'), Publisher.encode({ type: 'message', msg }))), 'the per-user topic')
  t.notOk(isLiveImDelivery(packet(topics.reply('alice', 'phone'), Publisher.encode({ type: 'sent', cid: 'c1', conv, seq: 1, id: `${conv}/1`, ts: 1, duplicate: false }))), 'a reply')
  t.notOk(isLiveImDelivery(packet('devices/x', Publisher.encode({ type: 'message', msg }))), 'a plain MQTT topic')
  t.notOk(isLiveImDelivery({ topic: topics.inbox('bob', conv), payload: 'not a buffer' }), 'a payload that is not a buffer')
  t.notOk(isLiveImDelivery(packet(topics.inbox('bob', conv), Buffer.from('{"v":2,"type":"messages"}'))), 'a look-alike type')
})
