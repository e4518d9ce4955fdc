import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { Daemon } from '../helpers/daemon.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function startNode (t: Test, redis: RedisServer, dir?: string, port = 0): Promise<{ daemon: Daemon, port: number, dir: string }> {
  dir ??= await mkdtemp(join(tmpdir(), 'hail-redis-node-'))
  const data = dir
  const { daemon, addresses } = await Daemon.start([
    '--data', data, '--mqtt-port', String(port), '--http-port', 'off', '--host', '127.0.0.1',
    '--allow-anonymous', '--max-queue', '100000', '--log-level', 'info', '--redis', redis.url
  ])
  t.teardown(async () => { await daemon.kill9(); await rm(data, { recursive: true, force: true }) })
  return { daemon, port: addresses.mqtt!.port, dir: data }
}

/** A persistent client that tries each node in turn when its connection drops. */
function connect (ports: number[], clientId: string): MqttClient {
  return mqtt.connect({
    servers: ports.map((port) => ({ host: '127.0.0.1', port })),
    clientId,
    clean: false,
    reconnectPeriod: 200,
    connectTimeout: 3000
  })
}

t.test('two nodes on one Redis: a client id connected to the second node closes its session on the first', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const a = await startNode(t, redis)
  const b = await startNode(t, redis)
  const first = mqtt.connect({ host: '127.0.0.1', port: a.port, clientId: 'same-id', clean: false, reconnectPeriod: 0 })
  t.teardown(() => { first.end(true) })
  await new Promise<void>((resolve) => first.once('connect', () => resolve()))
  let firstClosed = false
  first.on('close', () => { firstClosed = true })
  const second = mqtt.connect({ host: '127.0.0.1', port: b.port, clientId: 'same-id', clean: false, reconnectPeriod: 0 })
  t.teardown(() => { second.end(true) })
  await new Promise<void>((resolve) => second.once('connect', () => resolve()))
  await waitFor(() => firstClosed, 'the first node to close the older connection of the id', 20_000)
  t.ok(firstClosed, 'the older connection was closed by its node')
  t.ok(second.connected, 'the newer one stays')
})

t.test('kill -9 of a node during a QoS 1 flow: clients move to the other node and every PUBACKed message arrives', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const a = await startNode(t, redis)
  const b = await startNode(t, redis)

  const received = new Set<number>()
  const sub = connect([a.port, b.port], 'crash-sub')
  t.teardown(() => { sub.end(true) })
  await new Promise<void>((resolve, reject) => {
    sub.once('error', reject)
    sub.once('connect', () => sub.subscribe('crash/t', { qos: 1 }, (err) => err ? reject(err) : resolve()))
  })
  sub.on('message', (_topic, payload) => { received.add(Number(payload.toString())) })

  const pub = connect([a.port, b.port], 'crash-pub')
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  const N = 1500
  const WINDOW = 10
  const acked = new Set<number>()
  const publisher = (async () => {
    let inflight = 0
    for (let i = 0; i < N; i++) {
      while (inflight >= WINDOW) await sleep(2)
      inflight++
      pub.publish('crash/t', String(i), { qos: 1 }, (err) => {
        inflight--
        if (!err) acked.add(i)
      })
      await sleep(1)
    }
    await waitFor(() => inflight === 0, 'every publish acknowledged', 120_000)
  })()

  await waitFor(() => acked.size >= 300, 'traffic before the crash', 60_000)
  await a.daemon.kill9()
  const ackedAtCrash = acked.size
  await publisher
  t.equal(acked.size, N, 'every publish was acknowledged in the end (resent to the surviving node)')
  t.equal(b.daemon.child.exitCode, null, 'the surviving node runs')

  const missing = (): number[] => [...acked].filter((i) => !received.has(i))
  // What the dead node acknowledged but had not finished stays in its journal until the
  // survivor adopts it, once the dead node's liveness key expires (15 s): the dead node never restarts.
  await waitFor(() => missing().length === 0, 'every PUBACKed message delivered', 90_000).catch(() => {})
  const adopted = b.daemon.lines.filter((line) => line.includes('adopted the publish journal of a dead node'))
  t.comment(`acked before the crash ${ackedAtCrash}; adopted from the dead node's journal: ${adopted.map((line) => (JSON.parse(line) as { adopted: number }).adopted).join(', ') || 'none'}`)
  t.same(missing(), [], 'every PUBACKed message was delivered without the dead node restarting')
})
