// Issue 18, "a cluster an operator can see", and the wills of a node that dies:
// two real daemons on one real redis-server, one of them killed with SIGKILL.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import mqtt from 'mqtt'
import { Daemon, type Addresses } from '../helpers/daemon.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

interface Health {
  status: string
  version: string
  uptimeSeconds: number
  node: string
  run: string
  store: string
  redis: { up: boolean, down: string[], latencyMs: number | null }
  peers: Array<{ run: string, lastSeen: number }>
}

async function health (addresses: Addresses): Promise<Health> {
  const res = await fetch(`http://127.0.0.1:${addresses.http!.port}/healthz`)
  return await res.json() as Health
}

async function metrics (addresses: Addresses): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${addresses.http!.port}/metrics`)).text()
}

function gauge (text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

t.test('two nodes on one Redis: one node id each in /healthz and every log line, peers and Redis figures in /metrics; the wills of a node killed with SIGKILL go out within seconds', async (t) => {
  const redis = await RedisServer.start()
  const dirs = [await mkdtemp(join(tmpdir(), 'hail-ops-a-')), await mkdtemp(join(tmpdir(), 'hail-ops-b-'))]
  const nodes: Daemon[] = []
  t.teardown(async () => {
    for (const n of nodes) await n.kill9()
    await redis.stop()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })
  const started = []
  for (const dir of dirs) {
    const s = await Daemon.start(['--data', dir, '--mqtt-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--allow-anonymous', '--log-level', 'info', '--redis', redis.url])
    nodes.push(s.daemon)
    started.push(s)
  }
  const [a, b] = started as [typeof started[0], typeof started[0]]
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

  const nodeIdA = (await readFile(join(dirs[0]!, 'node-id'), 'utf8')).trim()
  const nodeIdB = (await readFile(join(dirs[1]!, 'node-id'), 'utf8')).trim()
  // Presence heartbeats every 5 s: each node sees the other within one.
  await waitFor(async () => (await health(a.addresses)).peers?.length === 1 && (await health(b.addresses)).peers?.length === 1, 'each node to see the other', 15_000)
  const ha = await health(a.addresses)
  const hb = await health(b.addresses)
  t.match(ha, { status: 'ok', version: pkg.version, node: nodeIdA, store: 'redis', redis: { up: true, down: [] } }, '/healthz names the node, its version and Redis\' state')
  t.ok(ha.run.startsWith(`${nodeIdA}.`) && ha.run !== hb.run, `a run id per start, under the node id (${ha.run})`)
  t.ok(typeof ha.redis.latencyMs === 'number' && ha.redis.latencyMs >= 0, `Redis round trip measured (${ha.redis.latencyMs} ms)`)
  t.ok(ha.uptimeSeconds >= 0, 'uptime')
  t.same(ha.peers.map((p) => p.run), [hb.run], 'a\'s peer is b\'s run')
  t.same(hb.peers.map((p) => p.run), [ha.run], 'and b\'s is a\'s')

  const ma = await metrics(a.addresses)
  t.equal(gauge(ma, 'hail_redis_up'), 1, 'hail_redis_up 1')
  t.equal(gauge(ma, 'hail_cluster_peers'), 1, 'hail_cluster_peers 1')
  t.ok((gauge(ma, 'hail_redis_ping_seconds') ?? -1) >= 0, 'hail_redis_ping_seconds present')
  // every store write and queue read goes through Redis: a start alone sends hundreds of commands
  for (const connection of ['stores', 'persistence']) {
    const count = gauge(ma, `hail_redis_command_seconds_count{connection="${connection}"}`) ?? 0
    const sum = gauge(ma, `hail_redis_command_seconds_sum{connection="${connection}"}`) ?? -1
    t.ok(count > 0 && sum > 0 && sum / count < 1, `hail_redis_command_seconds{connection="${connection}"}: ${count} commands, ${(1000 * sum / count).toFixed(3)} ms on average`)
  }
  t.equal(gauge(ma, 'hail_journal_adoptions_total'), 0, 'no adoption yet')

  // Every JSON line a node logged after opening its data directory carries its one node id.
  for (const [daemon, id] of [[a.daemon, nodeIdA], [b.daemon, nodeIdB]] as const) {
    const entries = daemon.lines.flatMap((l) => { try { return [JSON.parse(l) as { msg: string, node?: string }] } catch { return [] } })
    const after = entries.slice(entries.findIndex((e) => e.msg === 'stores in Redis'))
    t.ok(after.length >= 3, `${after.length} lines after the stores opened`)
    t.same([...new Set(after.map((e) => e.node))], [id], 'each with the node id of its data directory, and no other id')
  }

  // A client with a will on a, a subscriber on b; a dies without a word.
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.addresses.mqtt!.port}`, { clientId: 'will-watcher', reconnectPeriod: 0 })
  t.teardown(() => { sub.end(true) })
  const wills: Array<{ topic: string, payload: string, at: number }> = []
  sub.on('message', (topic, payload) => wills.push({ topic, payload: payload.toString(), at: Date.now() }))
  await sub.subscribeAsync('wills/#', { qos: 1 })
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${a.addresses.mqtt!.port}`, {
    clientId: 'doomed-device',
    reconnectPeriod: 0,
    will: { topic: 'wills/doomed-device', payload: Buffer.from('gone'), qos: 1, retain: false }
  })
  device.on('error', () => {})
  t.ok(device.connected, 'the device with a will is connected to a')
  await new Promise((resolve) => setTimeout(resolve, 300)) // its will stored in Redis
  const killed = Date.now()
  await a.daemon.kill9()
  device.end(true)

  await waitFor(() => wills.length > 0, 'the will of a client of the dead node', 60_000)
  const after = wills[0]!.at - killed
  t.comment(`the will arrived ${after} ms after kill -9 (aedes' defaults: 3 to 7 minutes)`)
  t.same(wills.map((w) => [w.topic, w.payload]), [['wills/doomed-device', 'gone']], 'the will arrived once')
  t.ok(after <= 45_000, `within 45 s of the kill (${after} ms)`)

  await waitFor(async () => (await health(b.addresses)).peers.length === 0, 'b to see a gone', 30_000)
  t.equal(gauge(await metrics(b.addresses), 'hail_cluster_peers'), 0, 'hail_cluster_peers 0 on b')
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.equal(wills.length, 1, 'and only once')
})
