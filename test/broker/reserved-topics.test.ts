import t from 'tap'
import { isReservedFilter, isReservedTopic } from '../../broker/mqtt/reserved-topics.js'

t.test('topics under im/ and $SYS/ are reserved, and so are the roots themselves', async (t) => {
  for (const topic of ['im', 'im/send/c1', 'im/inbox/alice', 'im/', '$SYS', '$SYS/broker/uptime']) {
    t.ok(isReservedTopic(topic), topic)
  }
})

t.test('topics that only look like reserved ones are ordinary', async (t) => {
  for (const topic of ['imx/a', 'i/m', 'IM/send/c1', 'a/im/b', '$SYSTEM/x', '$sys/x', '/im/x', 'sensors/1']) {
    t.notOk(isReservedTopic(topic), topic)
  }
})

t.test('a filter whose literal first level is reserved is reserved', async (t) => {
  for (const filter of ['im/#', 'im/+/x', 'im', '$SYS/#', '$SYS/+/uptime', '$share/g/im/#', '$share/g/$SYS/x']) {
    t.ok(isReservedFilter(filter), filter)
  }
})

t.test('a filter starting with a wildcard is not reserved: delivery has to refuse instead', async (t) => {
  for (const filter of ['#', '+', '+/x', '+/send/#', 'a/im/#', '$share/g/a/#', '$share/g', '$share']) {
    t.notOk(isReservedFilter(filter), filter)
  }
})
