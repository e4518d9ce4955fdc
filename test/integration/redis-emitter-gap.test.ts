// Issue 18: nothing acknowledged may wait for a reconnect that might never come. Every
// node's emitter subscriber is cut (as a Redis restart or a network blip does) while QoS 1
// traffic flows from a node to a subscriber connected to another: what was emitted while
// the subscribers were away reached no one, but sat in the subscriber's queue. Each node
// now sends its connected sessions what waits there once its subscriber is back.
import t from 'tap'
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import { redisNodes } from '../helpers/redis-nodes.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('emitter subscribers cut mid-flow: a subscriber that stays connected still gets every acknowledged message', async (t) => {
  const redisServer = await RedisServer.start()
  const redis = new Redis(redisServer.url)
  t.teardown(async () => {
    redis.disconnect()
    await redisServer.stop()
  })
  const ports = await redisNodes(t, redisServer.url, ['a', 'b'])
  const [onA, onB] = ports as [number, number]

  const received = new Set<number>()
  let connects = 0
  const sub = mqtt.connect(`mqtt://127.0.0.1:${onB}`, { clientId: 'gap-sub', clean: false, reconnectPeriod: 200 })
  t.teardown(() => { sub.end(true) })
  sub.on('connect', () => { connects++ })
  sub.on('message', (_topic, payload) => { received.add(Number(payload.toString())) })
  await new Promise<void>((resolve, reject) => sub.once('connect', () => sub.subscribe('gap/t', { qos: 1 }, (err) => err ? reject(err) : resolve())))

  const pub = mqtt.connect(`mqtt://127.0.0.1:${onA}`, { clientId: 'gap-pub', clean: false, reconnectPeriod: 200 })
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  const N = 1500
  const acked = new Set<number>()
  let ended = false
  t.teardown(() => { ended = true })
  const publishing = (async () => {
    let inflight = 0
    for (let i = 0; i < N && !ended; i++) {
      while (inflight >= 20 && !ended) await sleep(1)
      inflight++
      pub.publish('gap/t', String(i), { qos: 1 }, (err) => {
        inflight--
        if (err === undefined || err === null) acked.add(i)
      })
      if (i % 10 === 0) await sleep(2)
    }
  })()

  let killed = 0
  for (let k = 1; k <= 3; k++) {
    await waitFor(() => acked.size >= k * N / 4, `${k * N / 4} acks`, 60_000)
    // every subscriber connection on this Redis: both nodes' emitters (and their other listeners)
    killed += Number(await redis.client('KILL', 'TYPE', 'pubsub'))
  }
  await publishing
  await waitFor(() => acked.size === N, 'every message acknowledged', 60_000)
  await waitFor(() => [...acked].every((i) => received.has(i)), 'every acknowledged message delivered', 30_000).catch(() => {})
  const missing = [...acked].filter((i) => !received.has(i))
  t.ok(killed >= 6, `${killed} subscriber connections cut in 3 rounds`)
  t.same(missing.length, 0, `every acknowledged message reached the subscriber (${missing.length} missing: ${missing.slice(0, 10).join(',')})`)
  t.equal(connects, 1, 'without a reconnect of the subscriber')
})
