// Issue 18: a persistent session that goes offline on one node and comes back on another
// right after the last PUBACK of a burst published through a third gets each message once,
// in order. Before, 7 runs of 10 gave duplicates and reordering: the new node delivered the
// burst's tail live while its drain, a snapshot of the queue, sent it again after.
import t from 'tap'
import pino from 'pino'
import { Redis } from 'ioredis'
import mqtt, { type MqttClient } from 'mqtt'
import { redisNodes } from '../helpers/redis-nodes.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

const N = 500
const WINDOW = 50
const ROUNDS = 5

function connect (port: number, clientId: string): MqttClient {
  return mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, clean: false, reconnectPeriod: 0, connectTimeout: 10_000 })
}

t.test('offline on A, a burst through C, back on B right after the last PUBACK: each message once, in order', async (t) => {
  const redisServer = await RedisServer.start()
  const redis = new Redis(redisServer.url)
  t.teardown(async () => {
    redis.disconnect()
    await redisServer.stop()
  })
  const ports = await redisNodes(t, redisServer.url, ['a', 'b', 'c'], process.env.XLOG !== undefined ? { logger: pino({ level: 'debug' }) } : {})
  const [onA, onB, onC] = ports as [number, number, number]

  const pub = connect(onC, 'xdrain-pub')
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))

  for (let round = 0; round < ROUNDS; round++) {
    const id = `xdrain-sub-${round}`
    const topic = `xdrain/${round}`
    const first = connect(onA, id)
    await new Promise<void>((resolve, reject) => {
      first.once('error', reject)
      first.once('connect', () => first.subscribe(topic, { qos: 1 }, (err) => err ? reject(err) : resolve()))
    })
    await new Promise<void>((resolve) => first.end(false, {}, () => resolve()))

    let next = 0
    let acked = 0
    await new Promise<void>((resolve, reject) => {
      const send = (): void => {
        if (next >= N) return
        const i = next++
        pub.publish(topic, String(i), { qos: 1 }, (err) => {
          if (err) return reject(err)
          if (++acked === N) resolve()
          else send()
        })
      }
      for (let i = 0; i < WINDOW; i++) send()
    })

    // at once: the last messages' copies may still be on their way to the queue and the emitter
    const got: number[] = []
    const back = connect(onB, id)
    back.on('message', (_topic, payload) => { got.push(Number(payload.toString())) })
    const closes: string[] = []
    back.on('error', (err) => closes.push(`error ${err.message}`))
    back.on('close', () => closes.push(`close after ${got.length}`))
    await waitFor(() => new Set(got).size === N, `round ${round}: ${N} messages on B`, 60_000).catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 500)) // room for a late duplicate
    if (new Set(got).size < N) {
      const queued = await redis.llen(`outgoing:${encodeURIComponent(id)}`)
      t.comment(`round ${round}: B connected ${String(back.connected)} (${closes.join('; ')}), ${queued} still queued in Redis, first delivered ${got.slice(0, 5).join(',')}`)
    }
    back.end(true)
    const distinct = new Set(got).size
    const inOrder = got.every((v, i) => i === 0 || v > got[i - 1]!)
    t.same({ delivered: got.length, distinct, inOrder }, { delivered: N, distinct: N, inOrder: true }, `round ${round}: ${got.length} deliveries of ${distinct} messages, ${inOrder ? 'in order' : 'out of order'}`)
  }
})

t.test('over maxQueue, the session that comes back on another node gets the oldest messages, as documented', async (t) => {
  const redisServer = await RedisServer.start()
  t.teardown(() => redisServer.stop())
  const CAP = 100
  const ports = await redisNodes(t, redisServer.url, ['a', 'b', 'c'], { limits: { maxQueue: CAP } })
  const [onA, onB, onC] = ports as [number, number, number]
  const first = connect(onA, 'xcap-sub')
  await new Promise<void>((resolve, reject) => {
    first.once('error', reject)
    first.once('connect', () => first.subscribe('xcap/t', { qos: 1 }, (err) => err ? reject(err) : resolve()))
  })
  await new Promise<void>((resolve) => first.end(false, {}, () => resolve()))
  const pub = connect(onC, 'xcap-pub')
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  for (let i = 0; i < 3 * CAP; i++) await pub.publishAsync('xcap/t', String(i), { qos: 1 })
  const got: number[] = []
  const back = connect(onB, 'xcap-sub')
  t.teardown(() => { back.end(true) })
  back.on('message', (_topic, payload) => { got.push(Number(payload.toString())) })
  await waitFor(() => got.length >= CAP, `${CAP} messages`, 30_000).catch(() => {})
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.same(got, Array.from({ length: CAP }, (_, i) => i), `the first ${CAP} of ${3 * CAP}, once, in order`)
})
