import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { HailServer } from '../../../broker/index.js'
import { Daemon } from '../../helpers/daemon.js'
import { hail } from '../../helpers/hail-cli.js'
import { RedisServer } from '../../helpers/redis-server.js'
import { suback } from '../../helpers/suback.js'
import { waitFor } from '../../helpers/wait-for.js'

// Issue 17: the broker's status on Mosquitto's $SYS/broker/... topics, for
// admins (and the ACL file's read rules) only. Real sockets, real clients,
// mosquitto_sub as operators run it.

const run = promisify(execFile)
const PASSWORD = 'pw-12345678'

interface Started { server: HailServer, url: string, port: number, dataDir: string }

async function start (t: Test, options: { sysInterval?: number, allowAnonymous?: boolean, acl?: string, redis?: string, dataDir?: string } = {}): Promise<Started> {
  const dataDir = options.dataDir ?? await mkdtemp(join(tmpdir(), 'hail-sys-'))
  if (options.dataDir === undefined) t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  let acl: string | undefined
  if (options.acl !== undefined) {
    acl = `${dataDir}.acl`
    await writeFile(acl, options.acl)
    t.teardown(() => rm(acl!, { force: true }))
  }
  const server = new HailServer({
    dataDir,
    host: '127.0.0.1',
    mqttPort: 0,
    httpPort: null,
    sysInterval: options.sysInterval ?? 1,
    allowAnonymous: options.allowAnonymous ?? false,
    ...(acl === undefined ? {} : { acl }),
    ...(options.redis === undefined ? {} : { redis: options.redis })
  })
  const { mqtt: address } = await server.listen()
  t.teardown(() => server.close())
  return { server, url: `mqtt://127.0.0.1:${address!.port}`, port: address!.port, dataDir }
}

async function connect (t: Test, url: string, user: string | null, device = `d${Math.random().toString(16).slice(2, 8)}`): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, user === null
    ? { clientId: `anon-${device}`, reconnectPeriod: 0 }
    : { clientId: `${user}/${device}`, username: user, password: PASSWORD, reconnectPeriod: 0 })
  t.teardown(() => client.endAsync(true))
  return client
}

/** Every $SYS message a client receives, in order, and the latest value of each topic. */
function watch (client: MqttClient): { all: Array<{ topic: string, payload: string, retain: boolean }>, latest: Map<string, string> } {
  const all: Array<{ topic: string, payload: string, retain: boolean }> = []
  const latest = new Map<string, string>()
  client.on('message', (topic, payload, packet) => {
    all.push({ topic, payload: payload.toString(), retain: packet.retain })
    latest.set(topic, payload.toString())
  })
  return { all, latest }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

t.test("an admin's client subscribing $SYS/# gets Mosquitto's figures at once, retained, and sees them change", async (t) => {
  const { server, url } = await start(t, { allowAnonymous: true })
  await server.users.add('root', PASSWORD, { admin: true })
  const admin = await connect(t, url, 'root')
  const seen = watch(admin)
  t.strictSame(await suback(admin, '$SYS/#'), [0], 'granted')
  const counts = ['clients/connected', 'clients/maximum', 'clients/disconnected', 'clients/total', 'messages/received', 'messages/sent', 'publish/messages/received',
    'publish/messages/sent', 'bytes/received', 'bytes/sent', 'subscriptions/count', 'retained messages/count', 'heap/current', 'heap/maximum']
  const loads = ['messages/received', 'messages/sent', 'publish/received', 'publish/sent', 'bytes/received', 'bytes/sent', 'sockets']
    .flatMap((load) => ['1min', '5min', '15min'].map((window) => `load/${load}/${window}`))
  const topics = ['version', 'uptime', ...counts, ...loads]
  await waitFor(() => topics.every((topic) => seen.latest.has(`$SYS/broker/${topic}`)), 'every figure')
  t.ok(seen.all[0]!.retain, 'what was there before the subscription arrives retained')
  t.match(seen.latest.get('$SYS/broker/version'), /^hail version \d+\.\d+\.\d+/)
  t.match(seen.latest.get('$SYS/broker/uptime'), /^\d+ seconds$/)
  for (const topic of counts) t.match(seen.latest.get(`$SYS/broker/${topic}`), /^\d+$/, topic)
  for (const topic of loads) t.match(seen.latest.get(`$SYS/broker/${topic}`), /^\d+\.\d\d$/, topic)
  t.notOk([...seen.latest.keys()].some((topic) => !topic.startsWith('$SYS/broker/')), "aedes' own $SYS/{broker id}/... announcements stay inside")

  await waitFor(() => seen.latest.get('$SYS/broker/clients/connected') === '1', 'the admin counted as connected')
  await waitFor(() => seen.latest.get('$SYS/broker/subscriptions/count') === '1', 'its subscription counted')
  const received = Number(seen.latest.get('$SYS/broker/messages/received'))
  const device = await connect(t, url, null)
  await waitFor(() => seen.latest.get('$SYS/broker/clients/connected') === '2', 'clients/connected going up to 2', 10_000)
  t.equal(seen.latest.get('$SYS/broker/clients/maximum'), '2')
  await device.publishAsync('plain/topic', 'x', { qos: 1 })
  await waitFor(() => Number(seen.latest.get('$SYS/broker/messages/received')) === received + 1, 'messages/received going up', 10_000)
  // the count is the persistence's own (kept with each write), $SYS/broker's own retained figures included
  const retained = Number(seen.latest.get('$SYS/broker/retained messages/count'))
  await device.publishAsync('plain/retained', 'kept', { qos: 1, retain: true })
  await waitFor(() => Number(seen.latest.get('$SYS/broker/retained messages/count')) === retained + 1, 'retained messages/count going up', 10_000)
  await device.publishAsync('plain/retained', '', { qos: 1, retain: true })
  await waitFor(() => Number(seen.latest.get('$SYS/broker/retained messages/count')) === retained, 'and down again when it is cleared', 10_000)
  await device.endAsync()
  await waitFor(() => seen.latest.get('$SYS/broker/clients/connected') === '1', 'clients/connected going down again', 10_000)
  t.equal(seen.latest.get('$SYS/broker/clients/maximum'), '2', 'the maximum stays')
  const denied = (await server.metrics.aclDenied.get()).values.filter((v) => v.labels.action === 'receive')
  t.strictSame(denied, [], "aedes' announcements held back from $SYS/# are no refusal to count")
})

t.test('a persistent session whose client left counts as disconnected, and in the total', async (t) => {
  // Reads aedes' clients (clean, subscriptions) and the persistence's countOffline(): a tripwire if either changes.
  const { server, url } = await start(t, { allowAnonymous: true })
  await server.users.add('root', PASSWORD, { admin: true })
  const admin = await connect(t, url, 'root')
  const seen = watch(admin)
  await suback(admin, '$SYS/#')
  await waitFor(() => seen.latest.get('$SYS/broker/clients/total') === '1', 'the admin alone')
  t.equal(seen.latest.get('$SYS/broker/clients/disconnected'), '0')
  const device = await mqtt.connectAsync(url, { clientId: 'sensor-7', clean: false, reconnectPeriod: 0 })
  t.teardown(() => device.endAsync(true))
  await device.subscribeAsync('cmd/sensor-7', { qos: 1 })
  await waitFor(() => seen.latest.get('$SYS/broker/clients/connected') === '2', 'the device connected')
  t.equal(seen.latest.get('$SYS/broker/clients/disconnected'), '0', 'its session is held by its connection')
  await device.endAsync()
  await waitFor(() => seen.latest.get('$SYS/broker/clients/disconnected') === '1', 'its session counted as disconnected', 10_000)
  t.equal(seen.latest.get('$SYS/broker/clients/connected'), '1')
  t.equal(seen.latest.get('$SYS/broker/clients/total'), '2')
})

t.test('mosquitto_sub as an admin of a hail daemon shows live figures (hail user add --admin, --sys-interval)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-sys-daemon-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const added = await hail(['user', 'add', 'root', '--admin', '--password-stdin', '--data', dir], { stdin: `${PASSWORD}\n` })
  t.equal(added.code, 0, added.stderr)
  const { daemon, addresses } = await Daemon.start(['--data', dir, '--host', '127.0.0.1', '--mqtt-port', '0', '--http-port', 'off', '--sys-interval', '1'])
  t.teardown(() => daemon.stop())
  const { stdout } = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(addresses.mqtt!.port), '-i', 'root/cli', '-u', 'root', '-P', PASSWORD,
    '-t', '$SYS/#', '-v', '-C', '60', '-W', '20'])
  const lines = stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)] as const)
  const latest = new Map(lines)
  t.equal(latest.get('$SYS/broker/clients/connected'), '1', 'mosquitto_sub itself is connected')
  t.match(latest.get('$SYS/broker/version'), /^hail version /)
  t.equal(latest.size, 37, 'every topic of a single node')
  const uptimes = lines.filter(([topic]) => topic === '$SYS/broker/uptime').map(([, value]) => parseInt(value))
  t.ok(uptimes.length >= 2 && uptimes.at(-1)! > uptimes[0]!, `the uptime moves: ${uptimes.join(', ')}`)
})

t.test('a normal user and an anonymous client get nothing under $SYS/, whatever they subscribe', async (t) => {
  const { server, url } = await start(t, { allowAnonymous: true })
  await server.users.add('root', PASSWORD, { admin: true })
  await server.users.add('bob', PASSWORD)
  const bob = await connect(t, url, 'bob')
  const anon = await connect(t, url, null)
  const admin = await connect(t, url, 'root')
  const seen = { bob: watch(bob), anon: watch(anon), admin: watch(admin) }
  for (const client of [bob, anon]) {
    t.strictSame(await suback(client, ['$SYS/#', '$SYS/broker/uptime', '$share/g/$SYS/#']), [128, 128, 128], 'refused')
  }
  t.strictSame(await suback(anon, ['#', '+/broker/#']), [0, 0], 'the open anonymous broker grants wildcards ...')
  await suback(admin, '$SYS/#')
  await waitFor(() => seen.admin.all.length > 0, 'the admin getting figures')
  await sleep(2500) // two more updates
  t.strictSame(seen.bob.all, [], 'bob got nothing')
  t.strictSame(seen.anon.all, [], '... which never deliver $SYS/ [MQTT-4.7.2-1]')
})

t.test('no client may publish under $SYS/, not even an admin', async (t) => {
  const { server, url } = await start(t, { allowAnonymous: true, acl: 'user root\ntopic readwrite $SYS/#\n' })
  await server.users.add('root', PASSWORD, { admin: true })
  const admin = await connect(t, url, 'root')
  const seen = watch(admin)
  await suback(admin, '$SYS/#')
  await waitFor(() => seen.latest.has('$SYS/broker/version'), 'the figures')
  const version = seen.latest.get('$SYS/broker/version')
  for (const topic of ['$SYS/broker/version', '$SYS/broker/forged', '$SYS/x']) await admin.publishAsync(topic, 'forged', { qos: 1, retain: true })
  const anon = await connect(t, url, null)
  await anon.publishAsync('$SYS/broker/version', 'forged', { qos: 1, retain: true })
  await sleep(1500)
  t.notOk(seen.all.some((m) => m.payload === 'forged'), 'nobody received the forged figures')
  const late = await connect(t, url, 'root')
  const lateSeen = watch(late)
  await suback(late, '$SYS/#')
  await waitFor(() => lateSeen.latest.has('$SYS/broker/version'), 'the retained figures')
  t.equal(lateSeen.latest.get('$SYS/broker/version'), version, 'the retained version is the broker\'s')
  t.notOk(lateSeen.latest.has('$SYS/broker/forged'), 'and nothing forged was retained')
})

t.test('the ACL file can grant reading $SYS/ to a user who is no admin; turning admin off takes it away', async (t) => {
  const { server, url } = await start(t, { acl: 'user monitor\ntopic read $SYS/broker/clients/#\n' })
  await server.users.add('monitor', PASSWORD)
  await server.users.add('root', PASSWORD, { admin: true })
  const monitor = await connect(t, url, 'monitor')
  const seenMonitor = watch(monitor)
  t.strictSame(await suback(monitor, ['$SYS/broker/clients/#', '$SYS/#']), [0, 128], 'what the rule covers, nothing wider')
  await waitFor(() => seenMonitor.latest.has('$SYS/broker/clients/connected'), 'the clients figures')
  t.ok([...seenMonitor.latest.keys()].every((topic) => topic.startsWith('$SYS/broker/clients/')), 'only those')

  const admin = await connect(t, url, 'root')
  const seenAdmin = watch(admin)
  await suback(admin, '$SYS/#')
  await waitFor(() => seenAdmin.latest.has('$SYS/broker/uptime'), 'the admin getting figures')
  await server.users.setAdmin('root', false)
  await sleep(2500) // one update reads the flag again
  const before = seenAdmin.all.length
  const extra = await connect(t, url, 'monitor')
  await waitFor(() => seenMonitor.latest.get('$SYS/broker/clients/connected') === '3', 'the monitor seeing the third client')
  await sleep(1500)
  t.equal(seenAdmin.all.length, before, 'the former admin gets no more figures')
  await extra.endAsync()
})

t.test('--sys-interval 0 publishes nothing, and leaves nothing of an earlier run', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'hail-sys-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const first = await start(t, { dataDir })
  await first.server.users.add('root', PASSWORD, { admin: true })
  const before = await connect(t, first.url, 'root')
  const seenBefore = watch(before)
  await suback(before, '$SYS/#')
  await waitFor(() => seenBefore.latest.has('$SYS/broker/uptime'), 'figures from the first run')
  await before.endAsync()
  await first.server.close()

  const { url } = await start(t, { dataDir, sysInterval: 0 })
  const admin = await connect(t, url, 'root')
  const seen = watch(admin)
  t.strictSame(await suback(admin, '$SYS/#'), [0], 'the subscription is granted')
  await sleep(2500)
  t.strictSame(seen.all, [], 'and nothing arrives')
})

t.test('with Redis, each node publishes its own figures under $SYS/broker/nodes/{nodeId}/', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const a = await start(t, { redis: redis.url })
  const b = await start(t, { redis: redis.url })
  await a.server.users.add('root', PASSWORD, { admin: true })
  const admin = await connect(t, a.url, 'root')
  const seen = watch(admin)
  await suback(admin, '$SYS/#')
  const rootA = `$SYS/broker/nodes/${a.server.nodeId!}`
  const rootB = `$SYS/broker/nodes/${b.server.nodeId!}`
  await waitFor(() => seen.latest.get(`${rootA}/clients/connected`) === '1' && seen.latest.get(`${rootB}/clients/connected`) === '0', 'both nodes\' figures')
  await a.server.users.add('bob', PASSWORD)
  await connect(t, b.url, 'bob')
  await waitFor(() => seen.latest.get(`${rootB}/clients/connected`) === '1', 'node b counting its own client')
  t.equal(seen.latest.get(`${rootA}/clients/connected`), '1', 'node a still its own')
  t.notOk(seen.latest.has('$SYS/broker/uptime'), 'no figure claims to be the whole cluster\'s')
  t.notOk(seen.latest.has(`${rootA}/clients/disconnected`), 'sessions are not split between nodes: no disconnected count')
  t.notOk(seen.latest.has(`${rootA}/retained messages/count`), 'nor a retained count, which would read every retained message')
  t.ok(seen.latest.has(`${rootA}/load/bytes/sent/1min`) && seen.latest.has(`${rootB}/version`), 'the rest is there')
})
