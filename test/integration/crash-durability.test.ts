import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { Daemon } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait-for.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-crash-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function connect (port: number, clientId: string): MqttClient {
  return mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId,
    clean: false,
    reconnectPeriod: 100,
    connectTimeout: 5000
  })
}

async function startDaemon (dir: string, port = 0): Promise<{ daemon: Daemon, port: number }> {
  const { daemon, addresses } = await Daemon.start([
    '--data', dir, '--mqtt-port', String(port), '--http-port', '0',
    '--allow-anonymous', '--max-queue', '100000', '--log-level', 'info'
  ])
  return { daemon, port: addresses.mqtt!.port }
}

t.test('every PUBACKed message reaches a persistent subscriber across repeated kill -9', async (t) => {
  const dir = await tempDir(t)
  let { daemon, port } = await startDaemon(dir)
  t.teardown(() => daemon.kill9())

  const received = new Map<number, number>()
  const sub = connect(port, 'crash-sub')
  t.teardown(() => { sub.end(true) })
  await new Promise<void>((resolve, reject) => sub.once('connect', () => {
    sub.subscribe('crash/test', { qos: 1 }, (err) => err ? reject(err) : resolve())
  }))
  sub.on('message', (_topic, payload) => {
    const i = Number(payload.toString())
    received.set(i, (received.get(i) ?? 0) + 1)
  })

  const N = 3000
  const WINDOW = 20
  const acked = new Set<number>()
  const pub = connect(port, 'crash-pub')
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))

  // Stops with the test, so a failure ends it instead of leaving this loop spinning until tap's timeout.
  let ended = false
  t.teardown(() => { ended = true })
  const publishing = (async () => {
    let inflight = 0
    for (let i = 0; i < N && !ended; i++) {
      while (inflight >= WINDOW && !ended) await sleep(1)
      inflight++
      pub.publish('crash/test', String(i), { qos: 1 }, (err) => {
        inflight--
        if (err === undefined || err === null) acked.add(i)
      })
    }
  })()

  // Kill the daemon at random points while messages flow, and bring it back.
  const ackedAtKill: number[] = []
  for (let k = 0; k < 4; k++) {
    await waitFor(() => acked.size >= (k + 1) * (N / 6), `${(k + 1) * N / 6} acks before kill ${k + 1}`, 60_000)
    await sleep(Math.floor(Math.random() * 50))
    ackedAtKill.push(acked.size)
    await daemon.kill9()
    ;({ daemon } = await startDaemon(dir, port))
  }
  await publishing
  await waitFor(() => acked.size === N, 'every message acknowledged', 120_000)

  const missing = (): number[] => [...acked].filter((i) => !received.has(i))
  await waitFor(() => missing().length === 0, 'every acknowledged message delivered', 60_000).catch(() => {})
  for (const n of ackedAtKill) t.ok(n > 0 && n < N, `a kill came mid-flow (${n} of ${N} acknowledged)`)
  t.same(missing(), [], 'no acknowledged message is lost')
  const duplicates = [...received.values()].filter((c) => c > 1).length
  t.comment(`${N} acknowledged, ${received.size} distinct delivered, ${duplicates} delivered more than once (allowed at QoS 1)`)
})

t.test('messages queued for an offline persistent session survive a restart', async (t) => {
  const dir = await tempDir(t)
  let { daemon, port } = await startDaemon(dir)
  t.teardown(() => daemon.kill9())

  const sub = connect(port, 'offline-sub')
  await new Promise<void>((resolve, reject) => sub.once('connect', () => {
    sub.subscribe('queue/test', { qos: 1 }, (err) => err ? reject(err) : resolve())
  }))
  await new Promise<void>((resolve) => sub.end(false, {}, () => resolve()))

  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'offline-pub' })
  for (let i = 0; i < 50; i++) await pub.publishAsync('queue/test', String(i), { qos: 1 })
  await pub.endAsync()

  t.equal(await daemon.stop('SIGTERM'), 0, 'SIGTERM stops the daemon with exit code 0')
  ;({ daemon } = await startDaemon(dir, port))

  const got: number[] = []
  const back = connect(port, 'offline-sub')
  t.teardown(() => { back.end(true) })
  back.on('message', (_topic, payload) => got.push(Number(payload.toString())))
  await waitFor(() => got.length >= 50, '50 queued messages', 30_000).catch(() => {})
  t.same(got, Array.from({ length: 50 }, (_, i) => i), 'all 50 arrive, in order, once')
})
