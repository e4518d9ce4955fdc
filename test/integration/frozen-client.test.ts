import { mkdtemp, rm } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { createServer } from '../../index.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

type Server = ReturnType<typeof createServer>

async function limitHits (server: Server, limit: string): Promise<number> {
  const { values } = await server.metrics.limitHits.get()
  return values.find(v => v.labels.limit === limit)?.value ?? 0
}

async function drainTimeouts (server: Server): Promise<number> {
  return await limitHits(server, 'drainTimeout')
}

/** A broker on a fresh data directory, its sessions and routing in a fresh redis-server when `redis`. */
async function start (t: Test, limits: Record<string, number>, redis: boolean): Promise<{ server: Server, port: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-frozen-'))
  const redisServer = redis ? await RedisServer.start() : undefined
  const server = createServer({ dataDir: dir, mqttPort: 0, httpPort: null, host: '127.0.0.1', allowAnonymous: true, limits, redis: redisServer?.url })
  t.teardown(async () => {
    await server.close()
    await redisServer?.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const { mqtt: bound } = await server.listen()
  return { server, port: bound!.port }
}

/** A raw MQTT connection that subscribes to `topic`, then never reads its socket again. */
async function frozenSubscriber (t: Test, port: number, clientId: string, topic: string, qos: 0 | 1, clean: boolean): Promise<Socket> {
  const frozen = netConnect(port, '127.0.0.1')
  t.teardown(() => { frozen.destroy() })
  let subacked = false
  const parser = mqttPacket.parser()
  parser.on('packet', (packet) => {
    if (packet.cmd === 'suback') {
      subacked = true
      frozen.pause()
      frozen.removeAllListeners('data')
    }
  })
  frozen.on('data', (chunk) => parser.parse(chunk))
  frozen.on('error', () => {})
  frozen.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive: 0 }))
  frozen.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] }))
  await waitFor(() => subacked, 'SUBACK')
  return frozen
}

/** Publishes `n` messages of 8 KiB at QoS 1, 20 unacknowledged at a time; each carries its number in its first 4 bytes. */
async function publishMany (t: Test, port: number, topic: string, n: number): Promise<void> {
  const pub = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `${topic.replace(/\//g, '-')}-pub`, reconnectPeriod: 0 })
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  let sent = 0
  let acked = 0
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (sent === n) return
      const payload = Buffer.alloc(8192, 2)
      payload.writeUInt32BE(sent++)
      pub.publish(topic, payload, { qos: 1 }, (err) => {
        if (err) return reject(err)
        if (++acked === n) resolve()
        next()
      })
    }
    for (let i = 0; i < 20; i++) next()
  })
}

/** A reading subscriber at QoS 1; returns the numbers of the messages it got. */
async function reader (t: Test, port: number, clientId: string, topic: string, clean = true): Promise<Set<number>> {
  const got = new Set<number>()
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, clean, reconnectPeriod: 0 })
  t.teardown(() => { client.end(true) })
  client.on('message', (_topic, payload) => { got.add(payload.readUInt32BE(0)) })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => client.subscribe(topic, { qos: 1 }, (err) => err ? reject(err) : resolve()))
  })
  return got
}

t.test('a client that stops reading is cut at the drain timeout, counted once however many writes were pending', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-frozen-'))
  const server = createServer({ dataDir: dir, mqttPort: 0, httpPort: null, host: '127.0.0.1', allowAnonymous: true, limits: { drainTimeout: 1000 } })
  t.teardown(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  const { mqtt: bound } = await server.listen()
  const port = bound!.port

  // subscribes, then never reads its socket again
  await frozenSubscriber(t, port, 'frozen', 'frozen/t', 0, true)

  const pub = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'frozen-pub', reconnectPeriod: 0 })
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  const payload = Buffer.alloc(8192, 1)
  let published = 0
  while (await drainTimeouts(server) === 0 && published < 20_000) {
    await new Promise<void>((resolve, reject) => pub.publish('frozen/t', payload, { qos: 1 }, (err) => err ? reject(err) : resolve()))
    published++
  }
  t.equal(await drainTimeouts(server), 1, `cut at the drain timeout after ${published} messages of 8 KiB`)
  // the other writes pending on it fail too: still one hit
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(await drainTimeouts(server), 1, 'hail_limit_hits_total{limit="drainTimeout"} counted once')
})

for (const redis of [false, true]) {
  const mode = redis ? ' (Redis)' : ''

  t.test(`a reader beside a frozen QoS 0 subscriber gets every message while the frozen one is still connected; the frozen one is bounded, counted once and cut at the drain timeout${mode}`, async (t) => {
    // long enough that the reader must have been served before the frozen one is cut
    const drainTimeout = 45_000
    const { server, port } = await start(t, { drainTimeout }, redis)
    const sendBuffer = 4 * 1024 * 1024 // the default

    await frozenSubscriber(t, port, 'frozen2', 'frozen/t2', 0, true)
    const got = await reader(t, port, 'healthy2', 'frozen/t2')
    const N = 2500 // 20 MB of 8 KiB messages: far past the bound and what the frozen socket's kernel buffers hold
    const started = Date.now()
    await publishMany(t, port, 'frozen/t2', N)
    await waitFor(() => got.size >= N, `the reading subscriber gets all ${N}`, 120_000)
    t.comment(`${N} messages of 8 KiB to the reading subscriber in ${Date.now() - started} ms beside a frozen one`)
    t.equal(got.size, N, 'the reading subscriber got every message')
    // held behind the frozen socket, they would have come only once the drain timeout cut it
    t.equal(await drainTimeouts(server), 0, '... while the frozen one was still connected (not cut yet)')
    const frozen = server.aedes.clients.frozen2 as unknown as { conn: { writableLength: number } } | undefined
    t.ok(frozen !== undefined, 'the frozen QoS 0 subscriber was not disconnected by the bound')
    const unsent = frozen?.conn.writableLength ?? 0
    t.ok(unsent <= sendBuffer + 1024 * 1024, `its unsent data stayed near the bound: ${unsent} bytes (sendBuffer ${sendBuffer})`)
    t.equal(await limitHits(server, 'sendBuffer'), 1, 'hail_limit_hits_total{limit="sendBuffer"} counted once')

    await waitFor(async () => await drainTimeouts(server) > 0, 'the drain timeout to cut the frozen one', drainTimeout + 60_000)
    await waitFor(() => server.aedes.clients.frozen2 === undefined, 'the frozen one to be gone')
    t.pass('the frozen QoS 0 subscriber was cut at the drain timeout')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    t.equal(await drainTimeouts(server), 1, 'drainTimeout counted once')
    t.equal(await limitHits(server, 'sendBuffer'), 1, 'sendBuffer still counted once')
  })

  t.test(`a frozen QoS 1 subscriber is disconnected at the send buffer bound, not at the drain timeout, and its persistent session keeps every message${mode}`, async (t) => {
    const { server, port } = await start(t, { drainTimeout: 120_000, sendBuffer: 1024 * 1024, maxQueue: 10_000 }, redis)

    const frozen = await frozenSubscriber(t, port, 'frozen3', 'frozen/t3', 1, false)
    const got = await reader(t, port, 'healthy3', 'frozen/t3')
    const N = 1000 // 8 MB: past the 1 MiB bound and the frozen socket's kernel buffers
    await publishMany(t, port, 'frozen/t3', N)
    await waitFor(() => got.size >= N, `the reading subscriber gets all ${N}`, 120_000)
    t.equal(got.size, N, 'the reading subscriber got every message')
    await waitFor(() => server.aedes.clients.frozen3 === undefined, 'the frozen QoS 1 subscriber to be disconnected')
    t.equal(await limitHits(server, 'sendBuffer'), 1, 'hail_limit_hits_total{limit="sendBuffer"} counted once')
    t.equal(await drainTimeouts(server), 0, 'not by the drain timeout (120 s)')
    frozen.destroy()

    // [MQTT-3.1.2-4]: the session resumes with every QoS 1 message it did not acknowledge
    const resumed = await reader(t, port, 'frozen3', 'frozen/t3', false)
    await waitFor(() => resumed.size >= N, `the resumed session gets all ${N}`, 120_000)
    t.equal(resumed.size, N, 'the persistent session kept every message past the bound')
  })
}
