import t from 'tap'
import { Redis } from 'ioredis'
import MQEmitterRedis from 'mqemitter-redis'
import pino from 'pino'
import { keepSubscribed, type RedisEmitterInternals } from '../../../broker/redis/emitter-resubscribe.js'
import { redisConnectionOptions } from '../../../broker/redis/redis-connection.js'
import { RedisServer } from '../../helpers/redis-server.js'
import { waitFor } from '../../helpers/wait-for.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** An emitter on two connections made as Hail makes them (commands fail while Redis is away). */
async function emitterOn (url: string, keep: boolean): Promise<{ emitter: MQEmitterRedis.MQEmitterRedis, subConn: Redis, close: () => void }> {
  const pubConn = new Redis(url, redisConnectionOptions)
  const subConn = new Redis(url, redisConnectionOptions)
  for (const c of [pubConn, subConn]) c.on('error', () => {})
  await Promise.all([pubConn.connect(), subConn.connect()])
  const emitter = MQEmitterRedis({ pubConn, subConn })
  ;(emitter as unknown as { state: NodeJS.EventEmitter }).state.on('error', () => {})
  if (keep) keepSubscribed(emitter as unknown as RedisEmitterInternals, subConn, pino({ level: 'silent' }))
  return { emitter, subConn, close: () => { pubConn.disconnect(); subConn.disconnect() } }
}

t.test('tripwire: mqemitter-redis 7.2 counts its Redis subscriptions in _topics, wildcards as patterns with *', async (t) => {
  const server = await RedisServer.start()
  const { emitter, close } = await emitterOn(server.url, false)
  t.teardown(async () => { close(); await server.stop() })
  await new Promise<void>((resolve) => emitter.on('a/b', () => {}, resolve))
  await new Promise<void>((resolve) => emitter.on('a/+/c', () => {}, resolve))
  await new Promise<void>((resolve) => emitter.on('a/#', () => {}, resolve))
  t.same((emitter as unknown as RedisEmitterInternals)._topics, { 'a/b': 1, 'a/*/c': 1, 'a*': 1 })
})

t.test('a topic first listened to while Redis is away is subscribed on Redis once the subscriber reconnects', async (t) => {
  const server = await RedisServer.start()
  const kept = await emitterOn(server.url, true)
  t.teardown(async () => { kept.close(); await server.stop() })
  const received: string[] = []

  await server.kill()
  await waitFor(() => kept.subConn.status !== 'ready', 'the subscriber to notice', 10_000)
  // What aedes does when a persistent session resumes during the outage: the listener
  // comes, and mqemitter-redis' SUBSCRIBE fails (Hail's connections do not hold commands).
  kept.emitter.on('room/1', (packet: { payload: unknown }, cb: () => void) => { received.push(String(packet.payload)); cb() })
  await sleep(800)
  await server.restart()
  await waitFor(() => kept.subConn.status === 'ready', 'the subscriber back', 20_000)
  const probe = new Redis(server.url)
  t.teardown(() => { probe.disconnect() })
  await waitFor(async () => {
    const [, count] = await probe.pubsub('NUMSUB', 'room/1') as [string, number]
    return count >= 1
  }, 'Redis to list the subscription', 10_000)
  await new Promise<void>((resolve, reject) => kept.emitter.emit({ topic: 'room/1', payload: 'after' }, (err?: Error) => err ? reject(err) : resolve()))
  await waitFor(() => received.length === 1, 'the message after the outage', 10_000)
  t.same(received, ['after'], 'the listener gets what is published after the outage')
})
