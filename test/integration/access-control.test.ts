import t, { type Test } from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { createServer } from '../../index.js'
import { type Authenticate, type HailServer } from '../../broker/index.js'
import { waitFor } from '../helpers/wait-for.js'

const ACL = `
# anonymous clients: nothing at all
user alice
topic readwrite alice/#
topic read news/#

user carol
topic read #
topic deny secret/#

user writer
topic write #

pattern readwrite users/%u/#
pattern read devices/%c/cmd
`

// Test users; the real user store arrives with the IM layer.
const PASSWORDS: Record<string, string> = { alice: 'a-pass', bob: 'b-pass', carol: 'c-pass', writer: 'w-pass' }
const authenticate: Authenticate = async ({ username, password }) => {
  if (username === undefined) return { ok: false, returnCode: 5, reason: 'anonymous access is off' }
  if (username !== undefined && PASSWORDS[username] !== undefined && password?.toString() === PASSWORDS[username]) {
    return { ok: true, user: username }
  }
  return { ok: false, returnCode: 4, reason: 'bad user name or password' }
}

let server: HailServer
let port: number
let httpPort: number

t.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-acl-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'acl'), ACL)
  server = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0, acl: join(dir, 'acl'), authenticate })
  const addresses = await server.listen()
  port = addresses.mqtt!.port
  httpPort = addresses.http!.port
  t.teardown(() => server.close())
})

async function login (t: Test, user: string, clientId = `${user}-${Math.random().toString(16).slice(2, 8)}`, clean = true): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId, username: user, password: PASSWORDS[user], clean, reconnectPeriod: 0
  })
  t.teardown(() => client.endAsync(true))
  return client
}

/** SUBACK return codes in filter order; mqtt.js rejects when any is 0x80, so read them from the packet. */
async function suback (client: MqttClient, filters: string[] | string, qos: 0 | 1 = 1): Promise<number[]> {
  const list = Array.isArray(filters) ? filters : [filters]
  try {
    const granted = await client.subscribeAsync(Object.fromEntries(list.map((f) => [f, { qos }])))
    return granted.map((g) => g.qos)
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet
    if (packet?.granted === undefined) throw err
    return packet.granted
  }
}

function collect (client: MqttClient): Array<{ topic: string, payload: string }> {
  const got: Array<{ topic: string, payload: string }> = []
  client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }))
  return got
}

async function metric (name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{') ? l.startsWith(name) && !l.startsWith('#') : false)
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

t.test('a wrong password is refused with CONNACK 4 and an anonymous client with 5', async (t) => {
  await t.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'alice', password: 'nope', reconnectPeriod: 0 }), /Bad username or password/i)
  await t.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 }), /Not authorized/i)
})

t.test('a refused SUBSCRIBE gets 0x80 and the allowed ones in the same packet are granted', async (t) => {
  const alice = await login(t, 'alice')
  t.same(await suback(alice, ['alice/inbox', 'bob/#', 'news/+']), [1, 128, 1])
})

t.test('a refused PUBLISH is acknowledged, dropped and counted', async (t) => {
  const before = await metric('hail_acl_denied_total{action="publish"}')
  const carol = await login(t, 'carol')
  await carol.subscribeAsync('bob/#', { qos: 1 })
  const got = collect(carol)
  const alice = await login(t, 'alice')
  await alice.publishAsync('bob/in', 'from alice', { qos: 1 }) // resolves on PUBACK
  await alice.publishAsync('alice/out', 'allowed', { qos: 1 })
  t.ok(alice.connected, 'the publisher stays connected')
  const watcher = await login(t, 'carol')
  await watcher.subscribeAsync('alice/#', { qos: 1 })
  const watched = collect(watcher)
  await alice.publishAsync('alice/out', 'allowed again', { qos: 1 })
  await waitFor(() => watched.length === 1, 'the allowed publish')
  t.same(got, [], 'nobody receives the refused message')
  t.equal(await metric('hail_acl_denied_total{action="publish"}'), before + 1, 'the refusal is counted')
})

t.test('a # subscriber never sees reserved topics', async (t) => {
  const carol = await login(t, 'carol')
  t.same(await suback(carol, '#'), [1], 'carol may subscribe to #')
  t.same(await suback(carol, ['im/#', '$SYS/#', '$hail/#']), [128, 128, 128], 'reserved filters are refused even with topic read #')
  const got = collect(carol)
  const publish = (topic: string): Promise<void> => new Promise((resolve, reject) => {
    server.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, retain: false, dup: false }, (err) => err ? reject(err) : resolve())
  })
  await publish('im/inbox/alice')
  await publish('$SYS/x')
  await publish('public/marker')
  await waitFor(() => got.some((m) => m.topic === 'public/marker'), 'the marker message')
  t.same(got.map((m) => m.topic), ['public/marker'], 'only the plain topic arrives')
})

t.test('%u and %c patterns give each identity its own topics', async (t) => {
  const alice = await login(t, 'alice', 'alice/phone')
  const bob = await login(t, 'bob', 'bob/laptop')
  t.same(await suback(alice, ['users/alice/#', 'users/bob/#', 'devices/alice/phone/cmd', 'devices/bob/laptop/cmd']), [1, 128, 1, 128],
    'alice reads her own user and device topics only')
  const got = collect(alice)
  await bob.publishAsync('users/alice/x', 'bob writes into alice', { qos: 1 })
  await bob.publishAsync('users/bob/x', 'bob writes his own', { qos: 1 })
  const writer = await login(t, 'writer')
  await writer.publishAsync('devices/alice/phone/cmd', 'reboot', { qos: 1 })
  await waitFor(() => got.length >= 1, 'the device command')
  t.same(got, [{ topic: 'devices/alice/phone/cmd', payload: 'reboot' }], 'bob could not write into users/alice, the writer reached the device')
})

t.test('retained and queued messages obey the rules at delivery', async (t) => {
  const writer = await login(t, 'writer')
  await writer.publishAsync('secret/plan', 'retained secret', { qos: 1, retain: true })
  await writer.publishAsync('weather/today', 'retained weather', { qos: 1, retain: true })

  const carol = await login(t, 'carol', 'carol-persistent', false)
  const got = collect(carol)
  await carol.subscribeAsync('#', { qos: 1 })
  await waitFor(() => got.some((m) => m.topic === 'weather/today'), 'the retained weather')
  t.notOk(got.some((m) => m.topic.startsWith('secret/')), 'a retained message on a denied topic is not delivered')

  await carol.endAsync()
  await writer.publishAsync('secret/queued', 'queued secret', { qos: 1 })
  await writer.publishAsync('weather/queued', 'queued weather', { qos: 1 })
  const back = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: 'carol-persistent', username: 'carol', password: PASSWORDS.carol, clean: false, reconnectPeriod: 0
  })
  t.teardown(() => back.endAsync(true))
  const queued = collect(back)
  await waitFor(() => queued.some((m) => m.topic === 'weather/queued'), 'the queued weather')
  t.notOk(queued.some((m) => m.topic.startsWith('secret/')), 'a queued message on a denied topic is not delivered')
})
