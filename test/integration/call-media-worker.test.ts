// Calls over media worker threads (media/media-workers.ts) through a real
// broker and CallBridge: two calls on two workers, one worker killed mid-call.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import t from 'tap'
import { HailServer } from '../../broker/index.js'
import { CallBridge, parseCallsConfig } from '../../bridge/index.js'
import { MediaWorkers } from '../../media/index.js'
import { CallDevice } from '../helpers/call-device.js'
import { PASSWORD, waitCallEvent, waitCallRecord } from '../helpers/call-server.js'
import { waitFor } from '../helpers/wait-for.js'

const audio = { audio: true, video: false }

t.test('two calls run on two media workers; a worker killed mid-call ends its call (media-lost, with a record) and only it', async (t) => {
  const config = parseCallsConfig({ mediaPortMin: 48600, mediaPortMax: 48799, mediaListenAddress: '127.0.0.1', statsIntervalMs: 300, mediaWorkers: 2 })
  const pool = new MediaWorkers({ workers: 2, portRange: { min: 48600, max: 48799 }, listenAddress: '127.0.0.1', statsIntervalMs: 300 })
  const bridge = new CallBridge({ config, media: () => pool })
  bridge.registerMetrics(new Registry())
  const dir = await mkdtemp(join(tmpdir(), 'hail-workers-'))
  const server = new HailServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: null, imExtensions: [(host) => bridge.attach(host)] })
  const { mqtt } = await server.listen()
  await bridge.start(server.emitter)
  t.teardown(async () => {
    await bridge.close()
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  for (const user of ['alice', 'bob', 'carol', 'dave']) await server.users.add(user, PASSWORD)
  const port = mqtt!.port
  const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map(async (u) => await CallDevice.connect(t, port, u, 'phone', audio)))

  async function call (caller: CallDevice, callee: CallDevice, tag: string): Promise<string> {
    const { callId } = await caller.mqtt.request('call.invite', { to: callee.mqtt.user, media: audio })
    await caller.offer(callId)
    await waitCallEvent(callee.mqtt, callId, 'ring')
    await callee.mqtt.request('call.accept', { callId })
    await callee.offer(callId)
    await caller.sendUntil('audio', `${tag}-up`, () => callee.got('audio', `${tag}-up`, caller.id), `${tag}: media up`)
    await callee.sendUntil('audio', `${tag}-down`, () => caller.got('audio', `${tag}-down`, callee.id), `${tag}: media down`)
    return callId
  }

  const doomed = await call(alice!, bob!, 'doomed')
  const lives = await call(carol!, dave!, 'lives')
  const doomedWorker = pool.room(doomed)!.worker
  t.not(doomedWorker, pool.room(lives)!.worker, 'the two calls run on different workers')
  await waitFor(() => (bridge.quality(doomed) !== undefined), 'live figures of the doomed call')

  await pool.killWorker(doomedWorker)
  const ended = await waitCallEvent(alice!.mqtt, doomed, 'ended')
  t.match(ended, { reason: 'media-lost' }, 'alice hears the call ended because its media worker was lost')
  t.match(await waitCallEvent(bob!.mqtt, doomed, 'ended'), { reason: 'media-lost' }, 'so does bob')
  const record = await waitCallRecord(bob!.mqtt, doomed)
  t.match(record.body, { callId: doomed, reason: 'media-lost' }, 'the call record is appended')
  const aliceTrack = record.body.quality.tracks.find((q: any) => q.source === 'alice/phone')
  t.ok(aliceTrack?.packets > 0, `with the figures the worker sent before it died (${String(aliceTrack?.packets)} packets from alice)`)
  t.equal(bridge.call(doomed), undefined, 'the call is gone')

  t.ok(bridge.call(lives) !== undefined, 'the other call runs on')
  await carol!.sendUntil('audio', 'after-kill', () => dave!.got('audio', 'after-kill', carol!.id), 'media in the other call after the kill')
  t.pass('and still carries media')

  // a worker that stopped within 5 s of its start is replaced after a pause (no crash loop)
  await waitFor(() => pool.workers()[doomedWorker]!.threadId !== undefined, 'the replacement worker')
  // new devices: the old ones' peer connections belonged to the lost call
  const alice2 = await CallDevice.connect(t, port, 'alice', 'tablet', audio)
  const bob2 = await CallDevice.connect(t, port, 'bob', 'tablet', audio)
  const again = await call(alice2, bob2, 'again')
  t.equal(pool.room(again)!.worker, doomedWorker, 'a new call lands on the replacement worker')
  await alice2.mqtt.request('call.hangup', { callId: again })
  const record2 = await waitCallRecord(bob2.mqtt, again)
  t.match(record2.body, { reason: 'hangup' })
  t.ok(record2.body.quality.tracks.find((q: any) => q.source === 'bob/tablet')?.packets > 0, `its record has the figures the worker sent at the hangup: ${JSON.stringify(record2.body.quality)}`)
})
