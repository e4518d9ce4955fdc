import { once } from 'node:events'
import mqtt from 'mqtt'
import t from 'tap'
import { resendWindowServer } from '../helpers/resend-window-server.js'

// Why test/integration/im-chat-crash.test.ts sends a failed publish again: mqtt.js 5
// (clean: false) queues the publishes made while it resends a session's stored ones after a
// reconnect, and when that connection closes it fails them with 'Connection closed' without
// sending them or keeping them for the next connection. A caller that takes such a failure as
// final never gets those messages acknowledged (im-chat-crash waited 120 s for them in CI).
// This fails if mqtt.js starts keeping them; the resend in im-chat-crash is then harmless.

t.test('mqtt.js fails, and does not keep, a QoS 1 publish made while it resends its store, when that connection closes', async (t) => {
  const server = await resendWindowServer({ ackFrom3: false })
  const client = mqtt.connect(`mqtt://127.0.0.1:${server.port}`, { clientId: 'flush', clean: false, reconnectPeriod: 50 })
  client.on('error', () => {})
  t.teardown(() => { client.end(true); server.close() })
  await once(client, 'connect')
  client.publish('t', 'a', { qos: 1 })
  client.publish('t', 'b', { qos: 1 })
  const failure = new Promise<Error | undefined>((resolve) => {
    server.duringResend = () => {
      client.publish('t', 'c', { qos: 1 }, (err) => resolve(err ?? undefined))
    }
  })
  const err = await failure
  t.equal(err?.message, 'Connection closed', 'the publish made during the resend fails when the connection closes')
  while (server.connections() < 3) await new Promise((resolve) => setTimeout(resolve, 20))
  await new Promise((resolve) => setTimeout(resolve, 100))
  const stored = [...(client as unknown as { outgoingStore: { _inflights: Map<number, { payload: Buffer }> } }).outgoingStore._inflights.values()].map((p) => String(p.payload))
  t.same(stored.sort(), ['a', 'b'], 'it is not in the store for the next connection')
  t.notOk(server.received.some((r) => r.endsWith(':c')), 'and it was never sent')
})
