import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { addUser, Daemon } from '../helpers/daemon.js'
import { imServer, PASSWORD, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

// Messages to connected devices are queued in the server's memory, not on
// disk (broker/persistence/live-outgoing.ts); these check what a device
// still gets when it does not acknowledge one.

const conv = 'd:alice:bob'

/** The device receives but never sends PUBACK (mqtt.js acknowledges once handleMessage calls back). */
function neverAcknowledge (client: MqttClient): void {
  client.handleMessage = () => {}
}

t.test('a message a connected device did not acknowledge is sent again when it reconnects', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  neverAcknowledge(bob.client)
  const sent = await alice.send(conv, { text: 'are you there?' })
  t.equal(sent.type, 'sent')
  await waitFor(() => bob.messages(conv).length === 1, 'the live delivery', 10_000)
  bob.client.end(true) // gone before its PUBACK

  const again = await RawDevice.connect(t, port, 'bob', 'phone', { subscribe: false })
  await waitFor(() => again.messages(conv).length >= 1, 'the message sent again to the resumed session', 10_000)
  t.same(again.messages(conv).map((m) => [m.seq, m.body.text]), [[1, 'are you there?']], 'once, as it was')
})

t.test('a message a connected device had not acknowledged when the server was killed is in its sync after the restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-live-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const user of ['alice', 'bob']) await addUser(dir, user, PASSWORD)
  let { daemon, addresses } = await Daemon.start(['--data', dir, '--mqtt-port', '0', '--http-port', 'off'])
  t.teardown(() => daemon.kill9())
  const port = addresses.mqtt!.port

  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  neverAcknowledge(bob.client)
  const sent = await alice.send(conv, { text: 'before the crash' })
  t.equal(sent.seq, 1)
  await waitFor(() => bob.messages(conv).length === 1, 'the live delivery', 10_000)
  await daemon.kill9()
  bob.client.end(true)
  alice.client.end(true)

  ;({ daemon, addresses } = await Daemon.start(['--data', dir, '--mqtt-port', String(port), '--http-port', 'off']))
  const resumed = await RawDevice.connect(t, addresses.mqtt!.port, 'bob', 'phone')
  const { conversations } = await resumed.request('conversations')
  t.same(conversations.map((c: { conv: string, lastSeq: number }) => [c.conv, c.lastSeq]), [[conv, 1]], 'the conversation lists the message')
  const page = await resumed.request('sync', { conv, after: 0 })
  t.same(page.messages.map((m: { seq: number, body: { text: string } }) => [m.seq, m.body.text]), [[1, 'before the crash']], 'sync brings it')
})
