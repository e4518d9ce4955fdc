import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import net from 'node:net'
import mqtt, { type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { HailServer } from '../../broker/index.js'
import { pkt, str } from '../helpers/mqtt-bytes.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'
import { suback } from '../helpers/suback.js'

// Each connection's life in the log, as Mosquitto writes it: connected
// (who, from where), disconnected and why, sessions taken over, refused
// subscriptions and logins. The reasons read aedes internals
// (mqtt/connection-log.ts); these tests trip if aedes changes them.

interface Line { msg: string, level: number, clientId?: string, user?: string | null, reason?: string, filter?: string, address?: string, topic?: string }

async function start (t: Test, options: { logLevel?: string, redis?: string, allowAnonymous?: boolean } = {}): Promise<{ server: HailServer, url: string, lines: Line[] }> {
  const lines: Line[] = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as Line)
      done()
    }
  })
  // A directory of its own: a test may start two servers (t.testdir() is one per test).
  const dataDir = await mkdtemp(join(tmpdir(), 'hail-connection-log-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const server = new HailServer({
    dataDir,
    host: '127.0.0.1',
    mqttPort: 0,
    httpPort: null,
    allowAnonymous: options.allowAnonymous ?? true,
    ...(options.redis === undefined ? {} : { redis: options.redis }),
    logger: pino({ level: options.logLevel ?? 'debug' }, sink)
  })
  const { mqtt: address } = await server.listen()
  t.teardown(() => server.close())
  return { server, url: `mqtt://127.0.0.1:${address!.port}`, lines }
}

const find = (lines: Line[], msg: string, clientId: string): Line[] => lines.filter((l) => l.msg === msg && l.clientId === clientId)

t.test('a connect and a clean disconnect are logged with the user, the address and the reason', async (t) => {
  const { server, url, lines } = await start(t)
  await server.users.add('alice', 'pw-alice')
  const client = await mqtt.connectAsync(url, { clientId: 'alice/laptop', username: 'alice', password: 'pw-alice', reconnectPeriod: 0 })
  await waitFor(() => find(lines, 'client connected', 'alice/laptop').length === 1, 'the connect line')
  t.match(find(lines, 'client connected', 'alice/laptop')[0], { level: 30, user: 'alice', address: /127\.0\.0\.1/ }, 'info, with user and address')
  await client.endAsync()
  await waitFor(() => find(lines, 'client disconnected', 'alice/laptop').length === 1, 'the disconnect line')
  t.match(find(lines, 'client disconnected', 'alice/laptop')[0], { level: 30, user: 'alice', reason: 'client sent DISCONNECT' })
})

t.test('a connection dropped without DISCONNECT, a keepalive timeout and a server shutdown each say so', async (t) => {
  const { server, url, lines } = await start(t)
  const dropped = await mqtt.connectAsync(url, { clientId: 'dropped', reconnectPeriod: 0 })
  ;(dropped.stream as net.Socket).destroy()
  await waitFor(() => find(lines, 'client disconnected', 'dropped').length === 1, 'the drop line')
  t.notMatch(find(lines, 'client disconnected', 'dropped')[0]!.reason, /DISCONNECT|taken over/, `dropped: ${find(lines, 'client disconnected', 'dropped')[0]!.reason}`)

  // CONNECT with a keepalive of 1 s, then silence: aedes gives up after 1.5 keepalives.
  const silent = net.connect(Number(new URL(url).port), '127.0.0.1')
  silent.on('error', () => {})
  silent.write(pkt(0x10, str('MQTT'), '04 02 0001', str('silent')))
  await waitFor(() => find(lines, 'client disconnected', 'silent').length === 1, 'the keepalive line')
  t.equal(find(lines, 'client disconnected', 'silent')[0]!.reason, 'keep alive timeout')
  silent.destroy()

  const last = await mqtt.connectAsync(url, { clientId: 'last', reconnectPeriod: 0 })
  await server.close()
  await waitFor(() => find(lines, 'client disconnected', 'last').length === 1, 'the shutdown line')
  t.equal(find(lines, 'client disconnected', 'last')[0]!.reason, 'server closing')
  last.end(true)
})

t.test('a second connection with the same client id takes the session over, and the old one is logged as taken over', async (t) => {
  const { url, lines } = await start(t)
  const clients: MqttClient[] = []
  t.teardown(() => { for (const c of clients) c.end(true) })
  clients.push(await mqtt.connectAsync(url, { clientId: 'phone', reconnectPeriod: 0 }))
  clients.push(await mqtt.connectAsync(url, { clientId: 'phone', reconnectPeriod: 0 }))
  await waitFor(() => find(lines, 'client disconnected', 'phone').length === 1, 'the takeover line')
  t.equal(find(lines, 'client disconnected', 'phone')[0]!.reason, 'session taken over by a new connection with the same client id')
  t.equal(find(lines, 'client connected', 'phone').length, 2, 'both connects logged')
})

t.test('with Redis, a connection on another node takes the session over, and the old node says which', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const a = await start(t, { redis: redis.url })
  const b = await start(t, { redis: redis.url })
  const clients: MqttClient[] = []
  t.teardown(() => { for (const c of clients) c.end(true) })
  clients.push(await mqtt.connectAsync(a.url, { clientId: 'roamer', reconnectPeriod: 0 }))
  clients.push(await mqtt.connectAsync(b.url, { clientId: 'roamer', reconnectPeriod: 0 }))
  await waitFor(() => find(a.lines, 'client disconnected', 'roamer').length === 1, 'the takeover line on the first node')
  t.equal(find(a.lines, 'client disconnected', 'roamer')[0]!.reason, `session taken over by a connection on node ${b.server.aedes.id}`)
})

t.test('a refused subscription and a publish are logged at debug; at info neither is', async (t) => {
  for (const level of ['debug', 'info']) {
    const { server, url, lines } = await start(t, { logLevel: level })
    await server.users.add('carol', 'pw-carol')
    const client = await mqtt.connectAsync(url, { clientId: 'carol/d', username: 'carol', password: 'pw-carol', reconnectPeriod: 0 })
    const [granted] = await suback(client, 'im/inbox/dave')
    t.equal(granted, 128, 'another user\'s inbox is refused')
    const anon = await mqtt.connectAsync(url, { clientId: 'anon', reconnectPeriod: 0 })
    await anon.publishAsync('plain/topic', 'hi', { qos: 1 })
    const refused = lines.filter((l) => l.msg === 'subscribe refused by access control')
    const published = lines.filter((l) => l.msg === 'publish' && l.clientId === 'anon')
    if (level === 'debug') {
      t.match(refused, [{ level: 20, clientId: 'carol/d', filter: 'im/inbox/dave' }], 'the refusal, at debug')
      t.match(published, [{ level: 20, topic: 'plain/topic' }], 'the publish, at debug')
    } else {
      t.same([refused.length, published.length], [0, 0], 'nothing at info')
    }
    await Promise.all([client.endAsync(), anon.endAsync()])
  }
})

t.test('a login by a deleted user is logged as no such user, and the client learns only CONNACK 4', async (t) => {
  // Without anonymous access: with it, a name that is no account connects as an anonymous client (README).
  const { server, url, lines } = await start(t, { allowAnonymous: false })
  await server.users.add('bob', 'pw-bob')
  await server.users.add('dave', 'pw-dave')
  await server.users.delete('bob')
  const refusal = async (user: string, password: string): Promise<number | undefined> => await mqtt.connectAsync(url, { clientId: `${user}/d`, username: user, password, reconnectPeriod: 0 })
    .then((c) => { c.end(true); return 0 }, (err: { code?: number }) => err.code)
  t.equal(await refusal('bob', 'pw-bob'), 4, 'a deleted user: bad user name or password')
  t.equal(await refusal('dave', 'wrong'), 4, 'a wrong password: the same answer')
  const reasons = lines.filter((l) => l.msg === 'connection refused').map((l) => [l.clientId, l.reason])
  t.same(reasons, [['bob/d', 'bad password: no such user'], ['dave/d', 'bad password']], 'the log tells them apart')
})
