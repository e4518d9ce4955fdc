import t from 'tap'
import { checkSubscribe } from '../../../broker/wire/check-subscribe.js'
import { rejections } from '../../../broker/wire/rejections.js'

const str = (s: string): Buffer => {
  const bytes = Buffer.from(s, 'utf8')
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])
}
const subscribe = (...filters: string[]): Buffer =>
  Buffer.concat([Buffer.from([0, 1]), ...filters.flatMap((f) => [str(f), Buffer.from([1])])])
const unsubscribe = (...filters: string[]): Buffer => Buffer.concat([Buffer.from([0, 1]), ...filters.map(str)])
const check = (body: Buffer, withOptions: boolean) => checkSubscribe(body, 0, body.length, withOptions)

t.test('well-placed wildcards pass [MQTT-4.7.1-2] [MQTT-4.7.1-3]', async (t) => {
  for (const filter of ['#', '+', 'a', '/', 'a/#', '+/+', '/+', '+/', 'a/+/b', '+/a/#', 'sport/tennis/+', '$SYS/#', '€/+']) {
    t.equal(check(subscribe(filter), true), null, `SUBSCRIBE ${filter}`)
    t.equal(check(unsubscribe(filter), false), null, `UNSUBSCRIBE ${filter}`)
  }
})

t.test('misplaced wildcards are refused, including those aedes 1.2 lets through', async (t) => {
  for (const filter of ['a+', '+a', 'a#', '#a', '#/', 'a/#/b', 'a/b+', 'a/+b/c', '##', '++', 'sport/tennis#']) {
    t.equal(check(subscribe(filter), true), rejections.invalidFilter, `SUBSCRIBE ${filter}`)
    t.equal(check(unsubscribe(filter), false), rejections.invalidFilter, `UNSUBSCRIBE ${filter}`)
  }
})

t.test('every filter is checked, not just the first', async (t) => {
  t.equal(check(subscribe('a', 'b', 'c+'), true), rejections.invalidFilter)
  t.equal(check(unsubscribe('a', 'b\u0000'), false), rejections.nullChar)
})

t.test('a packet id of 0 and an empty list are refused', async (t) => {
  t.equal(check(Buffer.from([0, 0, 0, 1, 0x61, 0]), true), rejections.packetIdZero)
  t.equal(check(Buffer.from([0, 1]), true), rejections.noTopicFilters)
  t.equal(check(Buffer.from([0, 1]), false), rejections.noUnsubscribeFilters)
})

t.test('a broken layout is left to mqtt-packet', async (t) => {
  t.equal(check(Buffer.from([0, 1, 0, 9, 0x61]), true), null, 'filter past the end')
  t.equal(check(Buffer.from([0, 1, 0]), false), null, 'half a length')
})
