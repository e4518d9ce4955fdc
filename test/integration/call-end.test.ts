import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { createServer } from '../../index.js'
import { CallDevice } from '../helpers/call-device.js'
import { callServer, RawDevice, waitCallEvent, waitCallRecord } from '../helpers/call-server.js'

const media = { audio: true, video: true }
const calls = { mediaPortMin: 42200, mediaPortMax: 42399, mediaListenAddress: '127.0.0.1' }

async function connected (t: Parameters<typeof callServer>[0], port: number): Promise<{ alice: CallDevice, bob: CallDevice, callId: string }> {
  const alice = await CallDevice.connect(t, port, 'alice', 'phone', media)
  const bob = await CallDevice.connect(t, port, 'bob', 'laptop', media)
  const { callId } = await alice.mqtt.request('call.invite', { to: 'bob', media })
  await alice.offer(callId)
  await waitCallEvent(bob.mqtt, callId, 'ring')
  await bob.mqtt.request('call.accept', { callId })
  await bob.offer(callId)
  await alice.sendUntil('audio', 'up', () => bob.got('audio', 'up', 'alice/phone'), 'media up')
  return { alice, bob, callId }
}

t.test('a party whose connection vanishes mid-call ends the call, and the record keeps the media figures', async (t) => {
  const { server, port } = await callServer(t, ['alice', 'bob'], { calls })
  const { alice, bob, callId } = await connected(t, port)
  ;(bob.mqtt.client.stream as unknown as { destroy: () => void }).destroy()
  t.match(await waitCallEvent(alice.mqtt, callId, 'ended'), { by: 'bob/laptop', reason: 'disconnected' })
  const record = await waitCallRecord(alice.mqtt, callId)
  t.match(record.body, { reason: 'disconnected', mode: 'sfu' })
  t.ok(record.body.quality.tracks.some((q: any) => q.source === 'alice/phone' && q.kind === 'audio' && q.packets > 0), 'alice\'s audio was counted')
  t.equal(server.calls.calls().length, 0, 'nothing of the call is left')
})

t.test('closing the server hangs up its calls first: the parties hear it and the record is stored', async (t) => {
  const { dir, port, server } = await callServer(t, ['alice', 'bob'], { calls })
  const { alice, callId } = await connected(t, port)
  await server.close()
  t.match(alice.mqtt.of('call').find((e) => e.callId === callId && e.event === 'ended'), { reason: 'shutdown' }, 'told before the broker closed')
  t.equal(server.calls.mediaStarted, true)

  const again = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: null, calls })
  const { mqtt } = await again.listen()
  t.teardown(async () => {
    await again.close()
    await rm(dir, { recursive: true, force: true })
  })
  const reader = await RawDevice.connect(t, mqtt!.port, 'bob', 'other')
  const { messages } = await reader.request('sync', { conv: 'd:alice:bob', after: 0 })
  t.match(messages.find((m: any) => m.kind === 'call'), { body: { callId, reason: 'shutdown' } }, 'the record survived the restart')
  t.equal(again.calls.mediaStarted, false, 'a server with no call made no media relay')
})
