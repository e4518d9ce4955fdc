import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { addUser, Daemon } from '../helpers/daemon.js'
import { CallDevice } from '../helpers/call-device.js'
import { PASSWORD } from '../helpers/im-server.js'
import { waitCallEvent, waitCallRecord } from '../helpers/call-server.js'
import { waitFor } from '../helpers/wait-for.js'

t.test('a 1:1 call through the hail daemon in sfu mode: RTP sent by each side arrives at the other, and the record keeps its quality', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-call-sfu-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  for (const user of ['alice', 'bob']) await addUser(dir, user, PASSWORD)
  const { daemon, addresses } = await Daemon.start([
    '--data', dir, '--host', '127.0.0.1', '--mqtt-port', '0', '--http-port', '0',
    '--media-port-min', '42000', '--media-port-max', '42199', '--media-listen', '127.0.0.1', '--media-announce', '127.0.0.1',
    '--call-stats-interval', '300'
  ])
  t.teardown(async () => { await daemon.stop() })
  const port = addresses.mqtt!.port
  const alice = await CallDevice.connect(t, port, 'alice', 'phone')
  const bob = await CallDevice.connect(t, port, 'bob', 'laptop')

  const { callId, mode } = await alice.mqtt.request('call.invite', { to: 'bob', media: { audio: true, video: true } })
  t.equal(mode, 'sfu')
  await alice.offer(callId)
  await waitCallEvent(bob.mqtt, callId, 'ring')
  await bob.mqtt.request('call.accept', { callId })
  await bob.offer(callId)
  await waitCallEvent(alice.mqtt, callId, 'accepted')

  await alice.sendUntil('audio', 'alice-audio', () => bob.got('audio', 'alice-audio', 'alice/phone'), 'alice\'s audio at bob')
  await alice.sendUntil('video', 'alice-video', () => bob.got('video', 'alice-video', 'alice/phone'), 'alice\'s video at bob')
  await bob.sendUntil('audio', 'bob-audio', () => alice.got('audio', 'bob-audio', 'bob/laptop'), 'bob\'s audio at alice')
  await bob.sendUntil('video', 'bob-video', () => alice.got('video', 'bob-video', 'bob/laptop'), 'bob\'s video at alice')
  t.pass('each side received the other\'s audio and video through the relay')

  // Live quality: parties read the stats topic; /metrics counts the call and what was forwarded.
  await alice.mqtt.client.subscribeAsync(`im/call/${callId}/stats`, { qos: 0 })
  await waitFor(() => alice.mqtt.of('call.stats').some((s) => s.peers.length === 2), 'stats with both peers')
  t.match(alice.mqtt.of('call.stats').at(-1), { v: 2, callId, roomId: callId })
  const metrics = async (): Promise<string> => await (await fetch(`http://127.0.0.1:${addresses.http!.port}/metrics`)).text()
  await waitFor(async () => /hail_call_forwarded_packets_total [1-9]/.test(await metrics()), 'forwarded packets in /metrics')
  t.match(await metrics(), /hail_calls_active 1/)

  await alice.mqtt.request('call.hangup', { callId })
  await waitCallEvent(bob.mqtt, callId, 'ended')
  const record = await waitCallRecord(bob.mqtt, callId)
  t.match(record.body, { callId, mode: 'sfu', reason: 'hangup', media: { audio: true, video: true } })
  const sources = new Set(record.body.quality.tracks.map((q: any) => `${q.source}:${q.kind}`))
  t.ok(sources.has('alice/phone:audio') && sources.has('bob/laptop:video'), `quality per received track: ${[...sources].join(', ')}`)
  t.ok(record.body.quality.tracks.every((q: any) => q.packets > 0), 'every track counted packets')
  await waitFor(async () => /hail_calls_total\{reason="hangup"\} 1/.test(await metrics()), 'the ended call in /metrics')
  const text = await metrics()
  t.match(text, /hail_call_setup_seconds_count 1\n/, 'its set-up time in hail_call_setup_seconds')
  t.match(text, /hail_call_duration_seconds_count 1\n/, 'its duration in hail_call_duration_seconds')
  t.equal(await daemon.stop(), 0, 'the daemon stops cleanly')
})
