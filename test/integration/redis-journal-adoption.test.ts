import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { Redis } from 'ioredis'
import { RedisJournal } from '../../broker/persistence/redis-journal.js'
import { Daemon } from '../helpers/daemon.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

interface Node { daemon: Daemon, port: number, dir: string }

async function startNode (t: Test, redis: RedisServer): Promise<Node> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-adopt-node-'))
  const { daemon, addresses } = await Daemon.start([
    '--data', dir, '--mqtt-port', '0', '--http-port', 'off', '--host', '127.0.0.1',
    '--allow-anonymous', '--log-level', 'info', '--redis', redis.url
  ], 60_000)
  t.teardown(async () => { await daemon.kill9(); await rm(dir, { recursive: true, force: true }) })
  return { daemon, port: addresses.mqtt!.port, dir }
}

async function nodeIdOf (node: Node): Promise<string> {
  return (await readFile(join(node.dir, 'node-id'), 'utf8')).trim()
}

/** The 'adopted' log lines of a node: [dead node id, entries adopted]. */
function adoptions (node: Node): Array<{ node: string, adopted: number }> {
  return node.daemon.lines.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string, deadNode?: string, adopted?: number }
      return entry.msg === 'adopted the publish journal of a dead node' ? [{ node: entry.deadNode!, adopted: entry.adopted! }] : []
    } catch {
      return []
    }
  })
}

async function connected (client: MqttClient): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    client.once('error', reject)
    client.once('connect', () => { client.removeListener('error', reject); resolve() })
  })
}

/** A persistent session subscribed to `topic` at QoS 1, then gone offline: its messages queue in Redis. */
async function offlineSubscriber (port: number, clientId: string, topic: string): Promise<void> {
  const sub = mqtt.connect({ host: '127.0.0.1', port, clientId, clean: false, reconnectPeriod: 0 })
  await connected(sub)
  await new Promise<void>((resolve, reject) => sub.subscribe(topic, { qos: 1 }, (err) => err ? reject(err) : resolve()))
  await new Promise<void>((resolve) => sub.end(false, {}, () => resolve()))
}

/** Reconnect the persistent session and collect the payloads it is given. */
function resume (t: Test, port: number, clientId: string): Set<string> {
  const received = new Set<string>()
  const sub = mqtt.connect({ host: '127.0.0.1', port, clientId, clean: false, reconnectPeriod: 200 })
  t.teardown(() => { sub.end(true) })
  sub.on('message', (_topic, payload) => { received.add(payload.toString()) })
  return received
}

t.test('a node starting adopts the journal of a node that died after its PUBACKs: a persistent subscriber receives every message', async (t) => {
  const redisServer = await RedisServer.start()
  const redis = new Redis(redisServer.url)
  t.teardown(async () => { redis.disconnect(); await redisServer.stop() })
  const first = await startNode(t, redisServer)
  await offlineSubscriber(first.port, 'adopt-sub', 'adopt/t')

  // A node that journaled (and so acknowledged) these, then died for good: its liveness key is gone.
  const N = 300
  const dead = new RedisJournal(redis, { nodeId: 'dead-node' })
  await dead.register('hail:im:node:dead-node-incarnation')
  for (let i = 0; i < N; i++) await dead.append({ cmd: 'publish', topic: 'adopt/t', payload: String(i), qos: 1, retain: false, dup: false, messageId: i + 1 })

  const second = await startNode(t, redisServer)
  await waitFor(async () => await redis.hlen('hail:journal:dead-node') === 0, 'the dead node\'s journal to be adopted', 60_000)
  const adopted = (): number => [...adoptions(first), ...adoptions(second)].filter((a) => a.node === 'dead-node').reduce((sum, a) => sum + a.adopted, 0)
  await waitFor(() => adopted() >= N, 'the adoption to be logged', 60_000).catch(() => {})
  t.equal(adopted(), N, 'every entry was adopted, once, and logged with the dead node\'s id')

  const received = resume(t, second.port, 'adopt-sub')
  await waitFor(() => received.size === N, 'every adopted message delivered', 60_000).catch(() => {})
  t.equal(received.size, N, 'the persistent subscriber got every message the dead node had acknowledged')
  const owners = [await nodeIdOf(first), await nodeIdOf(second)]
  await waitFor(async () => (await Promise.all(owners.map((id) => redis.hlen(`hail:journal:${id}`)))).every((n) => n === 0),
    'the adopter to complete what it published', 60_000).catch(() => {})
  t.same(await Promise.all(owners.map((id) => redis.hlen(`hail:journal:${id}`))), [0, 0], 'nothing is left in any journal')
})

t.test('kill -9 of a node holding acknowledged but unfinished publishes: a surviving node publishes them without the dead node ever restarting', async (t) => {
  const redisServer = await RedisServer.start()
  const redis = new Redis(redisServer.url)
  t.teardown(async () => { redis.disconnect(); await redisServer.stop() })
  const doomed = await startNode(t, redisServer)
  const survivor = await startNode(t, redisServer)
  await offlineSubscriber(survivor.port, 'crash-adopt-sub', 'crash-adopt/t')

  // The subscriber's offline queue is made unwritable, so the doomed node PUBACKs each publish
  // (journaled) but aedes cannot finish it: every one stays in its journal, as in a crash between
  // the PUBACK and the store, only deterministic.
  await redis.set('outgoing:crash-adopt-sub', 'not a list')
  const N = 20
  const pub = mqtt.connect({ host: '127.0.0.1', port: doomed.port, clientId: 'crash-adopt-pub', clean: false, reconnectPeriod: 100 })
  t.teardown(() => { pub.end(true) })
  pub.on('error', () => {})
  const acked = new Set<string>()
  for (let i = 0; i < N; i++) pub.publish('crash-adopt/t', String(i), { qos: 1 }, (err) => { if (!err) acked.add(String(i)) })
  await waitFor(() => acked.size === N, 'every publish acknowledged by the doomed node', 60_000)
  pub.end(true)

  const doomedId = await nodeIdOf(doomed)
  await doomed.daemon.kill9()
  const left = await redis.hlen(`hail:journal:${doomedId}`)
  t.ok(left >= N, `the dead node left its ${left} acknowledged publishes in its journal`)
  await redis.del('outgoing:crash-adopt-sub') // the fault is gone; the node is not coming back

  await waitFor(async () => await redis.hlen(`hail:journal:${doomedId}`) === 0, 'the survivor to adopt the dead node\'s journal (after its liveness TTL)', 90_000)
  const adopted = (): number => adoptions(survivor).filter((a) => a.node === doomedId).reduce((sum, a) => sum + a.adopted, 0)
  // logged once the entries are published, so a little after they left the dead journal
  await waitFor(() => adopted() >= left, 'the survivor to log the adoption', 60_000).catch(() => {})
  t.equal(adopted(), left, 'the survivor logged what it adopted, with the dead node\'s id')
  const received = resume(t, survivor.port, 'crash-adopt-sub')
  const missing = (): string[] => [...acked].filter((p) => !received.has(p))
  await waitFor(() => missing().length === 0, 'every PUBACKed message delivered', 60_000).catch(() => {})
  t.same(missing(), [], 'every PUBACKed message arrived, and the dead node never restarted')
  t.equal(survivor.daemon.child.exitCode, null, 'the survivor runs')
})
