import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import net from 'node:net'
import { Aedes, type AedesPublishPacket } from 'aedes'
import mqttPacket, { type Packet } from 'mqtt-packet'
import t, { type Test } from 'tap'
import { drainInTurns, type DrainPersistence } from '../../../broker/mqtt/queue-drain.js'
import { waitFor } from '../../helpers/wait-for.js'

const require = createRequire(import.meta.url)
// aedes-persistence 11's memory persistence, the async interface aedes 1.2 runs on
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new () => DrainPersistence

/** aedes' connected clients by id (aedes' typings leave the map out). */
const clients = (broker: Aedes): Record<string, unknown> => (broker as unknown as { clients: Record<string, unknown> }).clients
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const aedesFile = async (path: string): Promise<string> => await readFile(require.resolve('aedes').replace(/aedes\.js$/, path), 'utf8')

t.test('tripwire: aedes 1.2.0 still drains a queue as queue-drain.ts replaces it', async (t) => {
  // queue-drain.ts stands in for emptyQueue, emptyQueueFilter, QoSPacket and write:
  // if any changes, read the new code and bring queue-drain.ts in line before updating these.
  const connect = await aedesFile('lib/handlers/connect.js')
  t.ok(connect.includes('  doConnack,\n  emptyQueue\n]'), 'emptyQueue is the last step of the CONNECT chain')
  const from = connect.indexOf('function emptyQueue (')
  const to = connect.indexOf('export default handleConnect')
  t.ok(from > 0 && to > from, 'emptyQueue and emptyQueueFilter found')
  t.equal(sha256(connect.slice(from, to)), '7acd99c8136e73dfbeb5cc88789180507eb9c5d59f7a233e491ea7d8dbe57d28', 'emptyQueue and emptyQueueFilter unchanged')
  t.equal(sha256(await aedesFile('lib/qos-packet.js')), '2b35fa5bc73ded5b9415dd11b36e97f596e882c0fbbc8dde47a98f86748c2997', 'QoSPacket unchanged')
  t.equal(sha256(await aedesFile('lib/write.js')), 'affdb5d157bbf358077ff59628c1bcf1cac70ec2b0b247f538e4a7ec74131e4f', 'write unchanged')
})

interface Device {
  socket: net.Socket
  received: Array<{ topic: string, n: number, messageId: number }>
  connacked: Promise<void>
}

/** A raw MQTT 3.1.1 device with a persistent session that acknowledges each publish when `ack` is set. */
function device (port: number, ack: boolean): Device {
  const socket = net.connect(port, '127.0.0.1')
  const received: Device['received'] = []
  const parser = mqttPacket.parser()
  let connacked!: () => void
  const dev: Device = { socket, received, connacked: new Promise(resolve => { connacked = resolve }) }
  parser.on('packet', (packet: Packet) => {
    if (packet.cmd === 'connack') connacked()
    if (packet.cmd !== 'publish') return
    received.push({ topic: packet.topic, n: Number(packet.payload.slice(0, 8).toString()), messageId: packet.messageId! })
    if (ack) socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId! }))
  })
  socket.on('data', (chunk) => parser.parse(chunk))
  socket.on('error', () => {})
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: 'dev', keepalive: 0 }))
  return dev
}

interface Setup { broker: Aedes, port: number, writes: { count: number }, conns: net.Socket[] }

/** aedes on the wrapped memory persistence; 'dev' subscribed to q/# at QoS 1 and offline; every server-side socket write counted. */
async function setup (t: Test, authorizeForward?: (packet: AedesPublishPacket) => boolean): Promise<Setup> {
  const persistence = drainInTurns(new MemoryPersistence())
  const broker = await Aedes.createBroker({
    persistence: persistence as never,
    authorizeForward: (_client, packet) => authorizeForward === undefined || authorizeForward(packet) ? packet : null
  })
  const writes = { count: 0 }
  const conns: net.Socket[] = []
  const server = net.createServer((socket) => {
    conns.push(socket)
    const internals = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>
    for (const name of ['_write', '_writev'] as const) {
      const original = internals[name]
      internals[name] = function (this: unknown, ...args: unknown[]) { writes.count++; return original.apply(this, args) }
    }
    broker.handle(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    await new Promise<void>(resolve => broker.close(() => resolve()))
    server.close()
  })
  const port = (server.address() as net.AddressInfo).port
  const dev = device(port, true)
  await dev.connacked
  dev.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q/#', qos: 1 }] }))
  await waitFor(() => clients(broker).dev !== undefined && Object.keys((clients(broker).dev as unknown as { subscriptions: object }).subscriptions).length > 0, 'the subscription')
  dev.socket.end(mqttPacket.generate({ cmd: 'disconnect' }))
  await waitFor(() => clients(broker).dev === undefined, 'the device offline')
  return { broker, port, writes, conns }
}

async function queue (broker: Aedes, count: number, size: number, topic: (n: number) => string = () => 'q/ok'): Promise<void> {
  for (let n = 0; n < count; n++) {
    const payload = Buffer.alloc(size, 32)
    payload.write(String(n).padStart(8, '0'))
    await new Promise<void>((resolve, reject) => broker.publish({ cmd: 'publish', topic: topic(n), payload, qos: 1, retain: false, dup: false } as never, (err) => err ? reject(err) : resolve()))
  }
}

function inOrder (received: Device['received'], count: number): boolean {
  return received.length === count && received.every((r, i) => r.n === i)
}

t.test('a queue of 3,000 goes out in order, in far fewer socket writes than packets', async (t) => {
  const { broker, port, writes } = await setup(t)
  await queue(broker, 3000, 64)
  writes.count = 0
  const dev = device(port, true)
  t.teardown(() => { dev.socket.destroy() })
  await waitFor(() => dev.received.length >= 3000, 'the drain')
  t.ok(inOrder(dev.received, 3000), 'every packet once, in order')
  t.equal(new Set(dev.received.map(r => r.messageId)).size, 3000, 'each with its own messageId')
  // aedes' own drain: one write per packet (and one for the CONNACK)
  t.ok(writes.count < 300, `${writes.count} socket writes for 3,000 packets`)
  // all acknowledged: nothing comes again
  await waitFor(() => clients(broker).dev !== undefined, 'registered')
  dev.socket.destroy()
  await waitFor(() => clients(broker).dev === undefined, 'offline again')
  const again = device(port, true)
  t.teardown(() => { again.socket.destroy() })
  await again.connacked
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(again.received.length, 0, 'the acknowledged queue is empty')
})

t.test('a device that does not read holds the drain at the socket\'s buffer, and gets everything once it reads', async (t) => {
  const { broker, port, conns } = await setup(t)
  const count = 3000
  const size = 8192
  await queue(broker, count, size)
  const dev = device(port, true)
  t.teardown(() => { dev.socket.destroy() })
  dev.socket.pause()
  await waitFor(() => conns.length === 2, 'the connection')
  const conn = conns[1] as net.Socket
  // let the drain run into the full socket
  let peak = 0
  for (let i = 0; i < 20; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
    peak = Math.max(peak, conn.writableLength)
  }
  // without backpressure the whole 24 MiB would sit in the server's buffer
  t.ok(peak < 512 * 1024, `at most ${peak} bytes waited in the server's buffer`)
  t.ok(dev.received.length < count, 'the device has not had everything yet')
  dev.socket.resume()
  await waitFor(() => dev.received.length >= count, 'the rest of the drain')
  t.ok(inOrder(dev.received, count), 'every packet once, in order')
})

t.test('a connection closed mid-drain ends its drain; the next one gets the whole queue', async (t) => {
  const { broker, port, conns } = await setup(t)
  const count = 2000
  await queue(broker, count, 8192)
  const first = device(port, false)
  first.socket.pause()
  await waitFor(() => conns.length === 2 && (conns[1] as net.Socket).writableLength > 0, 'the drain stalled on the socket')
  first.socket.destroy()
  await waitFor(() => clients(broker).dev === undefined && (conns[1] as net.Socket).destroyed, 'the first connection gone')
  const second = device(port, true)
  t.teardown(() => { second.socket.destroy() })
  await waitFor(() => second.received.length >= count, 'the second drain')
  t.ok(inOrder(second.received, count), 'the unacknowledged queue once, in order')
})

t.test('a packet the device may not receive is cleared, not sent, as aedes\' emptyQueueFilter does', async (t) => {
  const { broker, port } = await setup(t, packet => packet.topic !== 'q/no')
  await queue(broker, 300, 32, n => n % 3 === 0 ? 'q/no' : 'q/ok')
  const dev = device(port, true)
  await waitFor(() => dev.received.length >= 200, 'the drain')
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(dev.received.length, 200, 'only the allowed ones')
  t.ok(dev.received.every(r => r.topic === 'q/ok' && r.n % 3 !== 0), 'none refused')
  dev.socket.destroy()
  await waitFor(() => clients(broker).dev === undefined, 'offline again')
  const again = device(port, true)
  t.teardown(() => { again.socket.destroy() })
  await again.connacked
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(again.received.length, 0, 'the refused ones were cleared from the queue')
})
