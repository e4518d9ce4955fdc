import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from '../../index.js'
import { MqttTransport } from '../../client/mqtt-transport.js'
import { resendWindowServer } from '../helpers/resend-window-server.js'

/** A Hail broker open to anonymous clients: the transport is topic-agnostic. */
async function broker (t: Test, allowAnonymous = true): Promise<{ mqtt: string, ws: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-transport-'))
  const server = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0, allowAnonymous })
  const a = await server.listen()
  t.teardown(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  return { mqtt: `mqtt://127.0.0.1:${a.mqtt!.port}`, ws: `ws://127.0.0.1:${a.http!.port}/mqtt` }
}

function transport (t: Test, url: string, clientId = 'dev-1', extra: Partial<ConstructorParameters<typeof MqttTransport>[0]> = {}): MqttTransport {
  const tr = new MqttTransport({ url, clientId, clean: true, reconnectPeriod: 50, ...extra })
  t.teardown(async () => await tr.close())
  return tr
}

for (const kind of ['mqtt', 'ws'] as const) {
  t.test(`over ${kind}: open, subscribe, publish and receive bytes`, async (t) => {
    const urls = await broker(t)
    const tr = transport(t, urls[kind])
    const connects: boolean[] = []
    tr.on('connect', ({ sessionPresent }) => connects.push(sessionPresent))
    const got: Array<[string, string]> = []
    tr.on('message', (topic, payload) => {
      t.ok(payload instanceof Uint8Array, 'payloads are Uint8Array')
      got.push([topic, new TextDecoder().decode(payload)])
    })
    t.same(await tr.open(), { sessionPresent: false })
    t.same(connects, [false], 'the connect event came before open() resolved')
    t.same(await tr.subscribe(['plain/#', 'im/inbox/someone/#']), [true, false], 'one granted, one refused (im/ is the IM engine\'s)')
    await tr.publish('plain/a', '{"x":1}', 1)
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.same(got, [['plain/a', '{"x":1}']])
    await tr.unsubscribe(['plain/#'])
    await tr.publish('plain/b', 'no', 1)
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.equal(got.length, 1, 'nothing after unsubscribing')
  })
}

t.test('a refused CONNECT rejects open() with HAIL_ERR_NOT_AUTHORIZED', async (t) => {
  const urls = await broker(t, false)
  const tr = transport(t, urls.mqtt, 'alice/phone', { username: 'alice', password: 'nope' })
  await t.rejects(tr.open(), { code: 'HAIL_ERR_NOT_AUTHORIZED' })
})

t.test('nobody listening rejects open() with HAIL_ERR_CONNECT', async (t) => {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  const tr = transport(t, `mqtt://127.0.0.1:${port}`)
  await t.rejects(tr.open(), { code: 'HAIL_ERR_CONNECT' })
})

t.test('a server that never answers CONNECT: open() gives up after connectTimeout, or at close()', async (t) => {
  const sockets: net.Socket[] = []
  const silent = net.createServer((s) => sockets.push(s))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })
  const url = `mqtt://127.0.0.1:${(silent.address() as net.AddressInfo).port}`
  await t.rejects(transport(t, url, 'a', { mqtt: { connectTimeout: 200 } }).open(), { code: 'HAIL_ERR_CONNECT' })
  const tr = transport(t, url, 'b')
  const opening = tr.open()
  await new Promise((resolve) => setTimeout(resolve, 50))
  await tr.close()
  await t.rejects(opening, { code: 'HAIL_ERR_CLOSED' })
})

/**
 * A stand-in broker that answers each CONNECT with the next return code of `codes`
 * (the last one repeats). It closes a connection after a refusal, as a broker must, and
 * drops its first accepted connection after 100 ms (a server going away).
 */
async function scriptedBroker (t: Test, codes: number[]): Promise<{ url: string, connects: () => number }> {
  let n = 0
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    socket.once('data', () => {
      const code = codes[Math.min(n, codes.length - 1)]!
      n++
      socket.write(Buffer.from([0x20, 0x02, 0x00, code]))
      if (code !== 0) socket.end()
      else if (n === 1) setTimeout(() => socket.destroy(), 100)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  return { url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`, connects: () => n }
}

async function until (what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('CONNACK 3 (server unavailable) after a lost connection: the app is told, the transport keeps reconnecting and gets back in', async (t) => {
  const broker = await scriptedBroker(t, [0, 3, 3, 0])
  const tr = transport(t, broker.url, 'dev-u', { reconnectPeriod: 50 })
  const errors: string[] = []
  tr.on('error', (err) => errors.push(err.code))
  let connects = 0
  tr.on('connect', () => connects++)
  await tr.open()
  await until('the transport to be back in after two "unavailable" answers', () => connects === 2)
  t.equal(broker.connects(), 4, 'it tried again after each "unavailable"')
  t.same(errors, ['HAIL_ERR_UNAVAILABLE', 'HAIL_ERR_UNAVAILABLE'], 'each "unavailable" answer reached the app as HAIL_ERR_UNAVAILABLE, nothing else')
})

t.test('a refused login after a lost connection (CONNACK 5): reported once, and no more attempts with the same credentials', async (t) => {
  const broker = await scriptedBroker(t, [0, 5])
  const tr = transport(t, broker.url, 'dev-r', { reconnectPeriod: 50 })
  const errors: string[] = []
  tr.on('error', (err) => errors.push(err.code))
  await tr.open()
  await until('the refusal', () => errors.length > 0)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(broker.connects(), 2, 'no CONNECT after the refusal (10 reconnect periods later)')
  t.same(errors, ['HAIL_ERR_NOT_AUTHORIZED'])
})

t.test('a QoS 1 publish made while mqtt.js resends a resumed session, failed when that connection closes, still goes out on the next one', async (t) => {
  // mqtt.js fails such a publish with 'Connection closed' and keeps it nowhere
  // (test/client/mqttjs-store-flush.test.ts); the transport hands it over again.
  const server = await resendWindowServer({ ackFrom3: true })
  t.teardown(() => server.close())
  const tr = transport(t, `mqtt://127.0.0.1:${server.port}`, 'flush', { clean: false })
  tr.on('error', () => {})
  await tr.open()
  const earlier = [tr.publish('t', 'a', 1), tr.publish('t', 'b', 1)]
  const during = new Promise<void>((resolve, reject) => {
    server.duringResend = () => { tr.publish('t', 'c', 1).then(resolve, reject) }
  })
  await t.resolves(during, 'the publish made during the resend is acknowledged in the end')
  await Promise.all(earlier)
  t.ok(server.connections() >= 3, `it took a third connection (${server.connections()})`)
  t.same(server.received.filter((r) => r.endsWith(':c')).length, 1, `sent once (${server.received.join(' ')})`)
  t.notOk(server.received.includes('2:c'), 'not on the connection that was resending')
})
