import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Redis } from 'ioredis'
import mqtt, { type MqttClient } from 'mqtt'
import { createServer } from '../../index.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

const N = 100_000
const WINDOW = 500

function connect (port: number, clientId: string): MqttClient {
  return mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, clean: false, reconnectPeriod: 0, connectTimeout: 10_000 })
}

t.test('100k QoS 1 messages queued for an offline session in Redis all arrive in one connection, in order', async (t) => {
  const redisServer = await RedisServer.start()
  const dir = await mkdtemp(join(tmpdir(), 'hail-redis-drain-'))
  const server = createServer({ dataDir: dir, mqttPort: 0, httpPort: null, host: '127.0.0.1', allowAnonymous: true, redis: redisServer.url, limits: { maxQueue: N } })
  const redis = new Redis(redisServer.url)
  t.teardown(async () => {
    redis.disconnect()
    await server.close()
    await redisServer.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const { mqtt: bound } = await server.listen()
  const port = bound!.port

  // a persistent session subscribes, then goes offline
  let sub = connect(port, 'drain-sub')
  await new Promise<void>((resolve, reject) => {
    sub.once('error', reject)
    sub.once('connect', () => sub.subscribe('drain/t', { qos: 1 }, (err) => err ? reject(err) : resolve()))
  })
  await new Promise<void>((resolve) => sub.end(false, {}, () => resolve()))

  const pub = connect(port, 'drain-pub')
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  let next = 0
  let acked = 0
  await new Promise<void>((resolve, reject) => {
    const send = (): void => {
      if (next >= N) return
      const i = next++
      pub.publish('drain/t', String(i), { qos: 1 }, (err) => {
        if (err) return reject(err)
        if (++acked === N) resolve()
        else send()
      })
    }
    for (let i = 0; i < WINDOW; i++) send()
  })
  const queueKey = `outgoing:${encodeURIComponent('drain-sub')}`
  await waitFor(async () => await redis.llen(queueKey) === N, `${N} messages queued`, 300_000)

  sub = connect(port, 'drain-sub')
  t.teardown(() => { sub.end(true) })
  const received: number[] = []
  let connects = 0
  let closes = 0
  sub.on('connect', () => { connects++ })
  sub.on('close', () => { closes++ })
  sub.on('message', (_topic, payload) => { received.push(Number(payload.toString())) })
  const started = Date.now()
  await waitFor(() => received.length >= N || closes > 0, `${N} messages delivered`, 600_000)
  const seconds = (Date.now() - started) / 1000
  t.comment(`drained ${received.length} queued messages in ${seconds.toFixed(1)} s (${Math.round(received.length / seconds)} msg/s)`)
  t.equal(connects, 1, 'one connection')
  t.equal(closes, 0, 'the connection never closed')
  t.equal(received.length, N, 'every message arrived once')
  let inOrder = true
  for (let i = 0; i < received.length; i++) if (received[i] !== i) { inOrder = false; break }
  t.ok(inOrder, 'in publish order')
  await waitFor(async () => await redis.llen(queueKey) === 0, 'the queue emptied by the PUBACKs', 120_000)
  t.equal(await redis.llen(queueKey), 0)
})
