import { EventEmitter, once } from 'node:events'
import net from 'node:net'
import { Aedes, type Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import t, { type Test } from 'tap'
import { boundSends } from '../../../broker/wire/slow-consumer.js'
import { waitFor } from '../../helpers/wait-for.js'

const BOUND = 256 * 1024

interface Bench { aedes: Aedes, port: number, hits: () => number, clients: Map<string, Client>, errors: Array<[string | null, string]> }

/** A bare aedes whose every client is bounded by boundSends, on a real TCP port. */
async function bench (t: Test, drainTimeout: number): Promise<Bench> {
  const aedes = await Aedes.createBroker({ drainTimeout })
  let hits = 0
  const clients = new Map<string, Client>()
  const errors: Array<[string | null, string]> = []
  aedes.on('client', (client) => { clients.set(client.id, client) })
  aedes.on('clientError', (client, err) => { errors.push([client.id, err.message]) })
  const server = net.createServer((socket) => {
    const client = aedes.handle(socket)
    t.ok(boundSends(client, BOUND, () => { hits++ }), 'the client has what boundSends wraps')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })
  return { aedes, port: (server.address() as net.AddressInfo).port, hits: () => hits, clients, errors }
}

/** Subscribes over raw MQTT, then never reads its socket again. */
async function freeze (t: Test, port: number, clientId: string, qos: 0 | 1): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  socket.on('error', () => {})
  const parser = mqttPacket.parser()
  let subacked = false
  parser.on('packet', (packet) => {
    if (packet.cmd !== 'suback') return
    subacked = true
    socket.pause()
    socket.removeAllListeners('data')
  })
  socket.on('data', (chunk) => parser.parse(chunk))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 }))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'slow/t', qos }] }))
  await waitFor(() => subacked, 'SUBACK')
  return socket
}

/** Publishes `n` messages of 8 KiB one after the other, each once the emitter is done with the last. */
async function publish (aedes: Aedes, n: number, qos: 0 | 1): Promise<void> {
  const payload = Buffer.alloc(8192, 3)
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      aedes.publish({ cmd: 'publish', topic: 'slow/t', payload, qos, retain: false, dup: false }, (err?: Error) => err ? reject(err) : resolve())
    })
  }
}

// boundSends wraps aedes 1.2.0 internals (lib/client.js, lib/write.js): the client's deliver0
// and deliverQoS, which SUBSCRIBE takes from the client, and waitForDrain, which a write into
// a full socket calls. If aedes renames or stops calling them, these tests fail.
t.test('a client without what boundSends wraps is left alone and reported', async (t) => {
  t.equal(boundSends(new EventEmitter() as unknown as Client, BOUND, () => {}), false)
})

t.test('publishes to a frozen QoS 0 subscriber do not wait for it; past the bound its copies are dropped, told once; the drain timeout still cuts it', async (t) => {
  const drainTimeout = 10_000
  const { aedes, port, hits, clients, errors } = await bench(t, drainTimeout)
  await freeze(t, port, 'frozen', 0)
  const client = clients.get('frozen') as unknown as { conn: net.Socket }
  // 12 MB, far past the bound and the socket's kernel buffers. Waiting for the frozen
  // socket, the emitter would finish none of them until the drain timeout cut it.
  await publish(aedes, 1500, 1)
  t.same(errors, [], 'every publish completed while the frozen client was still connected')
  t.equal(hits(), 1, 'the bound was passed and told once')
  t.ok(client.conn.writableLength <= BOUND + 64 * 1024, `its unsent data stayed near the bound (${client.conn.writableLength} bytes)`)
  await waitFor(() => errors.length > 0, 'the drain timeout', drainTimeout + 30_000)
  t.same(errors[0], ['frozen', 'drain timeout'], 'then cut at the drain timeout, as before the bound')
  t.ok(client.conn.destroyed, 'its connection is closed')
  t.equal(hits(), 1, 'still told once')
})

t.test('the bound is told once per episode: again only after the client has read its socket empty', async (t) => {
  const { aedes, port, hits, clients, errors } = await bench(t, 60_000)
  const socket = await freeze(t, port, 'thaws', 0)
  const client = clients.get('thaws') as unknown as { conn: net.Socket }
  await publish(aedes, 1500, 0)
  await publish(aedes, 100, 0)
  t.equal(hits(), 1, 'frozen: told once')
  socket.on('data', () => {})
  socket.resume()
  await waitFor(() => client.conn.writableLength === 0, 'the client to read its backlog')
  socket.pause()
  await publish(aedes, 1500, 0)
  t.equal(hits(), 2, 'frozen again: told again')
  t.same(errors, [], 'never disconnected (QoS 0, drain timeout 60 s)')
})

t.test('a QoS 1 copy past the bound closes the connection, told once', async (t) => {
  const { aedes, port, hits, clients, errors } = await bench(t, 60_000)
  await freeze(t, port, 'frozen1', 1)
  const client = clients.get('frozen1') as unknown as { conn: net.Socket }
  await publish(aedes, 1500, 1)
  await waitFor(() => client.conn.destroyed, 'the frozen QoS 1 subscriber to be closed')
  t.match(errors[0], ['frozen1', /^send buffer over 262144 bytes/], 'closed by the bound, not the drain timeout')
  t.equal(hits(), 1, 'told once')
})

t.test('retained messages sent on SUBSCRIBE keep waiting for the socket: a slow reader gets them all, however many bytes', async (t) => {
  const { aedes, port, hits, errors } = await bench(t, 60_000)
  const N = 1000 // 8 MB of retained messages, 32 times the bound
  const payload = Buffer.alloc(8192, 4)
  for (let i = 0; i < N; i++) {
    await new Promise<void>((resolve, reject) => {
      aedes.publish({ cmd: 'publish', topic: `kept/${i}`, payload, qos: 1, retain: true, dup: false }, (err?: Error) => err ? reject(err) : resolve())
    })
  }
  // subscribes, reads nothing for a second (its socket fills), then reads everything
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  let got = 0
  let closed = false
  const parser = mqttPacket.parser()
  parser.on('packet', (packet) => { if (packet.cmd === 'publish') got++ })
  socket.on('close', () => { closed = true })
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'late', keepalive: 0 }))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'kept/#', qos: 1 }] }))
  socket.pause()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  socket.on('data', (chunk) => parser.parse(chunk))
  socket.resume()
  await waitFor(() => got >= N || closed, `all ${N} retained messages`, 60_000)
  t.equal(got, N, 'every retained message arrived')
  t.notOk(closed, 'the connection stayed open')
  t.equal(hits(), 0, 'the bound was never passed')
  t.same(errors, [])
})
