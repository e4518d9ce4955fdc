import t, { type Test } from 'tap'
import { Aedes } from 'aedes'
import { Redis } from 'ioredis'
import mqemitterRedis from 'mqemitter-redis'
import pino from 'pino'
import { RedisImCluster } from '../../../../broker/im/cluster/redis-im-cluster.js'
import { Membership } from '../../../../broker/im/membership.js'
import type { PresenceTracker } from '../../../../broker/im/presence.js'
import { Publisher } from '../../../../broker/im/publisher.js'
import { RedisServer } from '../../../helpers/redis-server.js'
import { waitFor } from '../../../helpers/wait-for.js'

const silent = pino({ level: 'silent' })
const DEBOUNCE = 200

interface Node { presence: PresenceTracker, cluster: RedisImCluster, redis: Redis, aedes: Aedes, die: () => Promise<void> }

/** One node's IM cluster part on a real aedes whose emitter is mqemitter-redis, as in Redis mode. */
async function node (t: Test, url: string, prefix: string): Promise<Node> {
  const mq = mqemitterRedis({ connectionString: url })
  mq.state.on('error', () => {}) // the Redis outage test: the server logs these
  const aedes = await Aedes.createBroker({ mq })
  const publisher = new Publisher()
  publisher.attach(aedes)
  const redis = new Redis(url)
  const cluster = new RedisImCluster({ redis, emitter: mq, keyPrefix: prefix, heartbeatMs: 100, livenessTtlMs: 600, logger: silent })
  const presence = cluster.presence(publisher, silent, DEBOUNCE)
  await cluster.start(new Membership(), async function * () {})
  let dead = false
  t.teardown(async () => {
    if (!dead) await presence.close()
    await cluster.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    redis.disconnect()
  })
  return {
    presence,
    cluster,
    redis,
    aedes,
    // As kill -9 looks to presence: its Redis connection drops, nothing is cleaned up, no heartbeat.
    die: async () => {
      dead = true
      redis.disconnect()
    }
  }
}

/** Every presence announcement any node makes, heard as a subscriber on another node would. */
async function listen (t: Test, url: string): Promise<Array<{ user: string, status: string, lastSeen: number }>> {
  const heard: Array<{ user: string, status: string, lastSeen: number }> = []
  const mq = mqemitterRedis({ connectionString: url })
  mq.state.on('error', () => {})
  await new Promise<void>((resolve) => mq.on('im/presence/+', (message: { payload: Buffer }, done: () => void) => {
    heard.push(JSON.parse(String(message.payload)))
    done()
  }, resolve))
  t.teardown(() => new Promise<void>((resolve) => mq.close(() => resolve())))
  return heard
}

const of = (heard: Array<{ user: string, status: string }>, user: string): string[] => heard.filter((e) => e.user === user).map((e) => e.status)
const settle = async (): Promise<void> => await new Promise((resolve) => setTimeout(resolve, DEBOUNCE * 4))

t.test('cluster presence on a real Redis', async (t) => {
  const server = await RedisServer.start({ appendfsyncAlways: false })
  t.teardown(() => server.stop())
  let n = 0
  const prefix = (): string => `t${++n}:`

  t.test('a user with devices on two nodes is online once and offline only when both left', async (t) => {
    const p = prefix()
    const heard = await listen(t, server.url)
    const a = await node(t, server.url, p)
    const b = await node(t, server.url, p)
    const phone = {}
    const laptop = {}
    a.presence.connected('ann', phone)
    b.presence.connected('ann', laptop)
    await waitFor(() => of(heard, 'ann').length === 1, 'online announced', 10_000)
    await waitFor(() => a.presence.isOnline('ann') && b.presence.isOnline('ann'), 'both nodes know ann is online', 10_000)
    a.presence.disconnected('ann', phone)
    await settle()
    t.same(of(heard, 'ann'), ['online'], 'one device left: still online, announced once')
    b.presence.disconnected('ann', laptop)
    await waitFor(() => of(heard, 'ann').length === 2, 'offline announced', 10_000)
    await settle()
    t.same(of(heard, 'ann'), ['online', 'offline'])
    t.notOk(a.presence.isOnline('ann'), 'node a knows ann is offline')
  })

  t.test('a device that moves to another node within the debounce is never announced offline', async (t) => {
    const p = prefix()
    const heard = await listen(t, server.url)
    const a = await node(t, server.url, p)
    const b = await node(t, server.url, p)
    const first = {}
    a.presence.connected('bob', first)
    await waitFor(() => of(heard, 'bob').length === 1, 'online', 10_000)
    a.presence.disconnected('bob', first)
    b.presence.connected('bob', {})
    await settle()
    t.same(of(heard, 'bob'), ['online'])
  })

  t.test('a status chosen on one node is announced once for devices on another', async (t) => {
    const p = prefix()
    const heard = await listen(t, server.url)
    const a = await node(t, server.url, p)
    const b = await node(t, server.url, p)
    b.presence.connected('cat', {})
    await waitFor(() => of(heard, 'cat').length === 1, 'online', 10_000)
    a.presence.choose('cat', 'busy')
    b.presence.choose('cat', 'busy')
    await waitFor(() => of(heard, 'cat').length === 2, 'busy', 10_000)
    await settle()
    t.same(of(heard, 'cat'), ['online', 'busy'])
    a.presence.connected('cat', {})
    await settle()
    t.same(of(heard, 'cat'), ['online', 'busy'], 'a second device keeps the chosen status, unannounced')
  })

  t.test('the devices of a node that dies go offline after the liveness TTL, unless the user is on another node', async (t) => {
    const p = prefix()
    const heard = await listen(t, server.url)
    const a = await node(t, server.url, p)
    const b = await node(t, server.url, p)
    a.presence.connected('dan', {})
    a.presence.connected('eve', {})
    b.presence.connected('eve', {})
    await waitFor(() => of(heard, 'dan').length === 1 && of(heard, 'eve').length === 1, 'online', 10_000)
    const died = Date.now()
    await a.die()
    await waitFor(() => of(heard, 'dan').length === 2, 'dan offline after a died', 10_000)
    const offline = heard.find((e) => e.user === 'dan' && e.status === 'offline')!
    t.ok(offline.lastSeen <= died, 'last seen is the dead node\'s last heartbeat')
    await settle()
    t.same(of(heard, 'eve'), ['online'], 'eve still has a device on b')
    t.same(await b.redis.hkeys(`${p}nodes`), [b.cluster.nodeId], 'the dead node is gone from the registry')
  })

  t.test('a node that closes announces its users offline itself', async (t) => {
    const p = prefix()
    const heard = await listen(t, server.url)
    const a = await node(t, server.url, p)
    await node(t, server.url, p)
    a.presence.connected('fay', {})
    await waitFor(() => of(heard, 'fay').length === 1, 'online', 10_000)
    await a.presence.close()
    await waitFor(() => of(heard, 'fay').length === 2, 'offline at close', 10_000)
    t.same(of(heard, 'fay'), ['online', 'offline'])
  })

  t.test('a node taken for dead while alive registers its connections again', async (t) => {
    const p = prefix()
    const heard = await listen(t, server.url)
    const a = await node(t, server.url, p)
    a.presence.connected('gus', {})
    await waitFor(() => of(heard, 'gus').length === 1, 'online', 10_000)
    // What another node does when a's key expired (a stalled longer than the TTL).
    const raw = new Redis(server.url)
    t.teardown(() => raw.quit())
    await raw.hdel(`${p}nodes`, a.cluster.nodeId)
    await raw.del(`${p}devices:gus`, `${p}node:${a.cluster.nodeId}:devices`)
    await waitFor(async () => (await raw.scard(`${p}devices:gus`)) === 1, 'gus registered again', 10_000)
    t.ok(a.presence.isOnline('gus'))
  })

  t.test('Redis restarting does not crash a node, and presence works after it', async (t) => {
    const p = prefix()
    await listen(t, server.url)
    const a = await node(t, server.url, p)
    await server.kill()
    a.presence.connected('hal', {})
    await new Promise((resolve) => setTimeout(resolve, 300))
    await server.restart()
    // The live announcement may be lost while the emitters reconnect (subscribers get it retained); Redis holds the truth.
    const raw = new Redis(server.url)
    t.teardown(() => raw.quit())
    await waitFor(async () => (await raw.hget(`${p}announced`, 'hal')) === 'online' && (await raw.scard(`${p}devices:hal`)) === 1, 'hal registered online once Redis is back', 30_000)
    t.ok(a.presence.isOnline('hal'))
    t.pass('the node lived through the outage')
  })
})
