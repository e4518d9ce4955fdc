import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { HailServer } from '../../broker/index.js'
import { waitFor } from '../helpers/wait-for.js'

async function start (t: Test): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-dedupe-'))
  const server = new HailServer({ dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: null, allowAnonymous: true })
  const { mqtt: bound } = await server.listen()
  t.teardown(async () => { await server.close(); await rm(dir, { recursive: true, force: true }) })
  return bound!.port
}

t.test('a message matching two subscriptions of one client arrives once', async (t) => {
  const port = await start(t)
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'overlap' })
  t.teardown(() => sub.endAsync())
  await sub.subscribeAsync({ 'x/#': { qos: 1 }, 'x/y': { qos: 1 } })
  const got: string[] = []
  sub.on('message', (_t, p) => got.push(p.toString()))
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'overlap-pub' })
  t.teardown(() => pub.endAsync())
  await pub.publishAsync('x/y', 'one', { qos: 1 })
  await pub.publishAsync('x/z', 'marker', { qos: 1 })
  await waitFor(() => got.includes('marker'), 'the marker')
  t.same(got, ['one', 'marker'])
})

t.test('a QoS 1 message overtaken by a later, cheaper publish is still delivered', async (t) => {
  // aedes numbers publishes when they start and emits them when their stores
  // are done; its high-water-mark dedupe then dropped the overtaken one.
  const port = await start(t)
  const persistent = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'slow-path', clean: false })
  t.teardown(() => persistent.endAsync())
  await persistent.subscribeAsync('race/slow', { qos: 1 }) // makes race/slow publishes write offline copies
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'racer' })
  t.teardown(() => sub.endAsync())
  await sub.subscribeAsync('race/#', { qos: 1 })
  const got: string[] = []
  sub.on('message', (_t, p) => got.push(p.toString()))
  // Two publishers, so a QoS 0 publish can start while a QoS 1 one is still writing its offline copy.
  const slow = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'race-slow' })
  const fast = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'race-fast' })
  t.teardown(() => Promise.all([slow.endAsync(), fast.endAsync()]))
  const N = 300
  for (let i = 0; i < N; i++) {
    slow.publish('race/slow', `slow ${i}`, { qos: 1 })
    for (let j = 0; j < 3; j++) fast.publish('race/fast', `fast ${i}`, { qos: 0 })
  }
  await waitFor(() => got.filter((m) => m.startsWith('slow')).length >= N, 'every QoS 1 message', 20_000).catch(() => {})
  t.equal(got.filter((m) => m.startsWith('slow')).length, N, `all ${N} QoS 1 messages arrive`)
})

t.test('a QoS 0 publish reaches a QoS 1 subscription, downgraded, once', async (t) => {
  const port = await start(t)
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'downgrade' })
  t.teardown(() => sub.endAsync())
  await sub.subscribeAsync('down/#', { qos: 1 })
  const got: Array<[string, number]> = []
  sub.on('message', (_t, p, packet) => got.push([p.toString(), packet.qos]))
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'downgrade-pub' })
  t.teardown(() => pub.endAsync())
  await pub.publishAsync('down/a', 'at most once', { qos: 0 })
  await pub.publishAsync('down/b', 'marker', { qos: 1 })
  await waitFor(() => got.some(([m]) => m === 'marker'), 'the marker')
  t.same(got, [['at most once', 0], ['marker', 1]])
})
