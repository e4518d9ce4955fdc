// Shared subscriptions ($share/{group}/{filter}): real servers on loopback, real mqtt.js
// clients; across two nodes on a real redis-server.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { Aedes } from 'aedes'
import { createServer } from '../../../index.js'
import { parseShare } from '../../../broker/mqtt/shared-subscriptions.js'
import { RedisServer } from '../../helpers/redis-server.js'
import { suback } from '../../helpers/suback.js'
import { waitFor } from '../../helpers/wait-for.js'

async function server (t: Test, extra: Record<string, unknown> = {}): Promise<{ url: string, http: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-share-'))
  const s = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0, allowAnonymous: true, ...extra })
  const a = await s.listen()
  t.teardown(async () => {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  })
  return { url: `mqtt://127.0.0.1:${a.mqtt!.port}`, http: a.http!.port }
}

interface Member { client: MqttClient, got: string[] }

async function member (t: Test, url: string, clientId: string, filter: string, options: mqtt.IClientOptions = {}): Promise<Member> {
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, ...options })
  t.teardown(() => { client.end(true) })
  const got: string[] = []
  client.on('message', (_topic, payload) => got.push(payload.toString()))
  const granted = await client.subscribeAsync(filter, { qos: 1 })
  if (granted[0]?.qos === 128) throw new Error(`${filter} refused`)
  return { client, got }
}

async function publish (url: string, topic: string, n: number, from = 0): Promise<string[]> {
  const pub = await mqtt.connectAsync(url, { clientId: `pub-${Math.random()}`, reconnectPeriod: 0 })
  const sent: string[] = []
  for (let i = from; i < from + n; i++) {
    await pub.publishAsync(topic, String(i), { qos: 1 })
    sent.push(String(i))
  }
  await pub.endAsync()
  return sent
}

const sorted = (xs: string[]): string[] => [...xs].sort((a, b) => Number(a) - Number(b))

t.test('parseShare reads $share/{group}/{filter} and refuses malformed ones', async (t) => {
  t.same(parseShare('$share/g/sensors/#'), { group: 'g', filter: 'sensors/#' })
  t.same(parseShare('$share/workers/a/+/c'), { group: 'workers', filter: 'a/+/c' })
  t.equal(parseShare('sensors/#'), undefined, 'not shared')
  for (const bad of ['$share/g', '$share//x', '$share/g+/x', '$share/#/x', '$share/g/']) t.equal(parseShare(bad), null, `${bad} is malformed`)
})

t.test('tripwire: the aedes internals the dispatcher uses are where it expects them (aedes pinned)', async (t) => {
  const broker = await Aedes.createBroker()
  t.teardown(() => new Promise<void>((resolve) => broker.close(() => resolve())))
  const internals = broker as unknown as { mq: { on: unknown, removeListener: unknown }, persistence: { outgoingEnqueueCombi: unknown } }
  t.equal(typeof internals.mq.on, 'function', 'aedes.mq.on')
  t.equal(typeof internals.mq.removeListener, 'function', 'aedes.mq.removeListener')
  t.equal(typeof internals.persistence.outgoingEnqueueCombi, 'function', 'aedes.persistence.outgoingEnqueueCombi')
  const { createServer: netServer } = await import('node:net')
  const tcp = netServer((socket) => broker.handle(socket))
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { tcp.close() })
  const seen = new Promise<{ subscriptions: Record<string, { qos: number, func: unknown }> }>((resolve) => broker.once('subscribe', (_subs, client) => resolve(client as never)))
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${(tcp.address() as { port: number }).port}`, { clientId: 'tw', reconnectPeriod: 0 })
  t.teardown(() => { c.end(true) })
  await c.subscribeAsync('$share/g/x', { qos: 1 })
  const client = await seen
  t.equal(client.subscriptions['$share/g/x']?.qos, 1, 'client.subscriptions keeps the $share topic with its QoS')
  t.equal(typeof client.subscriptions['$share/g/x']?.func, 'function', '… and its delivery function')
})

t.test('one node: each message of the filter goes to one member of each group, in turn; plain subscribers get all', async (t) => {
  const { url } = await server(t)
  const g = await Promise.all([1, 2, 3].map(async (i) => await member(t, url, `g${i}`, '$share/g/sensors/#')))
  const h = await Promise.all([1, 2].map(async (i) => await member(t, url, `h${i}`, '$share/h/sensors/+')))
  const plain = await member(t, url, 'plain', 'sensors/#')
  const sent = await publish(url, 'sensors/kitchen', 90)
  await waitFor(() => plain.got.length === 90 && g.flatMap((m) => m.got).length === 90 && h.flatMap((m) => m.got).length === 90, 'every delivery', 10_000)
  t.same(g.map((m) => m.got.length), [30, 30, 30], 'group g: 30 each (round robin)')
  t.same(h.map((m) => m.got.length), [45, 45], 'group h: 45 each')
  t.same(sorted(g.flatMap((m) => m.got)), sent, 'group g got every message once')
  t.same(sorted(h.flatMap((m) => m.got)), sent, 'group h got every message once')
  t.same(plain.got, sent, 'a plain subscriber got all, in order')
  for (const m of g) t.same(m.got, sorted(m.got), 'each member in publish order')

  await publish(url, 'other/topic', 5)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(g.flatMap((m) => m.got).length, 90, 'nothing outside the filter')
})

t.test('members that leave (UNSUBSCRIBE, disconnect) stop getting messages; the rest get them all', async (t) => {
  const { url } = await server(t)
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map(async (id) => await member(t, url, id, '$share/w/jobs/#')))
  await a!.client.unsubscribeAsync('$share/w/jobs/#')
  await c!.client.endAsync()
  const sent = await publish(url, 'jobs/1', 20)
  await waitFor(() => b!.got.length === 20, 'the remaining member to get everything', 10_000)
  t.equal(a!.got.length, 0, 'the unsubscribed member got nothing')
  t.equal(c!.got.length, 0, 'the disconnected one neither')
  t.same(b!.got, sent)
})

t.test('a persistent member that reconnects is a member again without subscribing again (QoS 1, its queue)', async (t) => {
  const { url } = await server(t)
  const first = await mqtt.connectAsync(url, { clientId: 'durable-worker', clean: false, reconnectPeriod: 0 })
  await first.subscribeAsync('$share/d/tasks/#', { qos: 1 })
  await first.endAsync()
  const back = await mqtt.connectAsync(url, { clientId: 'durable-worker', clean: false, reconnectPeriod: 0 })
  t.teardown(() => { back.end(true) })
  const got: string[] = []
  back.on('message', (_topic, payload, packet) => { got.push(`${payload.toString()}@${packet.qos}`) })
  const sent = await publish(url, 'tasks/x', 10)
  await waitFor(() => got.length === 10, 'the restored member to get them', 10_000)
  t.same(got, sent.map((s) => `${s}@1`), 'every message, at QoS 1, in order')
})

t.test('malformed shared subscriptions and reserved filters are refused; a PUBLISH to $share/… reaches no member', async (t) => {
  const { url } = await server(t)
  const c = await mqtt.connectAsync(url, { clientId: 'refused', reconnectPeriod: 0 })
  t.teardown(() => { c.end(true) })
  // (`$share/g+/x` too, but mqtt.js refuses to send it: parseShare's test covers it)
  t.same(await suback(c, ['$share/g', '$share//x', '$share/g/im/#', '$share/g/ok/#'], 1), [0x80, 0x80, 0x80, 1])
  await c.unsubscribeAsync('$share/g/ok/#') // the one granted above: m is the group's only member
  const m = await member(t, url, 'm', '$share/g/ok/#')
  await publish(url, '$share/g/ok/x', 3)
  await publish(url, 'ok/x', 1, 100)
  await waitFor(() => m.got.length >= 1, 'the real message', 5000)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(m.got, ['100'], 'only the message published to the filter itself')
})

t.test('two nodes on one Redis: a group with members on both gets each message exactly once, from either node', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => await redis.stop())
  const a = await server(t, { redis: redis.url })
  const b = await server(t, { redis: redis.url })
  const members = [
    await member(t, a.url, 'a1', '$share/cl/metrics/#'), await member(t, a.url, 'a2', '$share/cl/metrics/#'),
    await member(t, b.url, 'b1', '$share/cl/metrics/#'), await member(t, b.url, 'b2', '$share/cl/metrics/#')
  ]
  // Nodes see each other through their heartbeats (every 5 s), then read each other's members.
  const peers = async (port: number): Promise<number> => ((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { peers?: unknown[] }).peers?.length ?? 0
  await waitFor(async () => await peers(a.http) === 1 && await peers(b.http) === 1, 'the nodes to see each other', 20_000)
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const sent = [...await publish(a.url, 'metrics/cpu', 100), ...await publish(b.url, 'metrics/cpu', 100, 100)]
  await waitFor(() => members.flatMap((m) => m.got).length >= 200, 'every message', 15_000)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const all = members.flatMap((m) => m.got)
  t.equal(all.length, 200, 'no message twice')
  t.same(sorted(all), sent, 'every message once')
  const perNode = [members[0]!.got.length + members[1]!.got.length, members[2]!.got.length + members[3]!.got.length]
  t.ok(perNode[0]! > 0 && perNode[1]! > 0, `both nodes delivered (${perNode.join(' / ')})`)
  t.comment(`per member: ${members.map((m) => m.got.length).join(', ')}`)
})
