import t from 'tap'
import mqtt from 'mqtt'
import { ConfigError, HailServer, type Authorize } from '../../broker/index.js'
import { suback } from '../helpers/suback.js'

// An embedding app's own topic rules (the `authorize` option, broker/mqtt/authorize.ts)
// in place of an ACL file: asked at PUBLISH, SUBSCRIBE and every delivery.

t.test('the authorize hook decides subscriptions, publishes and deliveries on plain topics', async (t) => {
  const asked: string[] = []
  let sensorsReadable = true
  const authorize: Authorize = ({ user }, action, topic) => {
    asked.push(`${user ?? '-'} ${action} ${topic}`)
    if (action === 'publish') return user === 'sensor' && topic.startsWith('sensors/sensor/')
    return user === 'sensor' && topic.startsWith('sensors/') && sensorsReadable
  }
  const server = new HailServer({ dataDir: t.testdir(), host: '127.0.0.1', mqttPort: 0, httpPort: null, authorize })
  const { mqtt: address } = await server.listen()
  t.teardown(() => server.close())
  await server.users.add('sensor', 'secret')
  const url = `mqtt://127.0.0.1:${address!.port}`
  const client = await mqtt.connectAsync(url, { clientId: 'sensor/t1', username: 'sensor', password: 'secret', reconnectPeriod: 0 })
  t.teardown(() => client.end(true))

  const granted = await suback(client, ['sensors/#', 'other/#', 'im/inbox/other'])
  t.same(granted, [0, 128, 128], 'sensors/ granted; other/ refused by the hook; im/ is never the hook\'s')
  const got: string[] = []
  client.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`))
  await client.publishAsync('sensors/sensor/temp', '21', { qos: 1 })
  await client.publishAsync('sensors/elsewhere/temp', 'forged', { qos: 1 })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(got, ['sensors/sensor/temp 21'], 'its own publish arrives; one the hook refuses is dropped')

  sensorsReadable = false
  await client.publishAsync('sensors/sensor/temp', '22', { qos: 1 })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(got, ['sensors/sensor/temp 21'], 'a delivery is asked again: a subscription granted earlier no longer receives')
  t.ok(asked.includes('sensor receive sensors/sensor/temp'), 'deliveries are asked with action receive')
  t.notOk(asked.some((line) => line.includes(' im/')), 'Hail\'s own topics never reach the hook')
})

t.test('acl and authorize together are a configuration error', async (t) => {
  t.throws(() => new HailServer({ dataDir: t.testdir(), acl: '/etc/hail/acl', authorize: () => true }), ConfigError)
})
