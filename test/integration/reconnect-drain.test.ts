import { mkdtemp, rm } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import mqtt from 'mqtt'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { createServer } from '../../index.js'
import { waitFor } from '../helpers/wait-for.js'

/**
 * A device that reconnects (clean: false) while its queued messages are
 * still being delivered, over and over, while new messages keep coming:
 * raw MQTT, so that the test decides when each PUBACK goes out and sees
 * every PUBLISH as sent. Per connection the messages must come in order
 * without a repeat; none may be missing; one acknowledged on an earlier
 * connection than the last must never come again; and the server must
 * never drop the device.
 */

const QUEUED = 300
const RECONNECTS = 100
const TOPIC = 'race/t'

interface Connection {
  socket: Socket
  received: number[]
  /** Whether it still acknowledges what it gets. */
  acking: boolean
  pongs: number
  /** Closed by the server while it was the device's current connection. */
  droppedByServer: boolean
  current: boolean
}

function rawConnect (port: number, clientId: string, connections: Connection[], onPublish: (conn: Connection, n: number, messageId: number) => void): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1')
    const conn: Connection = { socket, received: [], acking: true, pongs: 0, droppedByServer: false, current: true }
    connections.push(conn)
    const parser = mqttPacket.parser()
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connack') {
        if (packet.returnCode !== 0) reject(new Error(`CONNACK ${packet.returnCode}`))
        else resolve(conn)
      } else if (packet.cmd === 'pingresp') {
        conn.pongs++
      } else if (packet.cmd === 'publish') {
        onPublish(conn, Number(packet.payload.toString()), packet.messageId!)
      }
    })
    socket.on('data', (chunk) => parser.parse(chunk))
    socket.on('error', () => {})
    socket.on('close', () => { if (conn.current) conn.droppedByServer = true })
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId, keepalive: 60 }))
  })
}

t.test('a device reconnecting during its drain 100 times gets each message once per connection, in order, and is never dropped', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-reconnect-drain-'))
  const server = createServer({ dataDir: dir, mqttPort: 0, httpPort: null, host: '127.0.0.1', allowAnonymous: true, limits: { maxQueue: 100_000 } })
  t.teardown(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  const { mqtt: bound } = await server.listen()
  const port = bound!.port

  // the device's persistent session subscribes, then goes offline
  const setup = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'race-dev', clean: false, reconnectPeriod: 0 })
  await new Promise<void>((resolve, reject) => {
    setup.once('error', reject)
    setup.once('connect', () => setup.subscribe(TOPIC, { qos: 1 }, (err) => err ? reject(err) : resolve()))
  })
  await new Promise<void>((resolve) => setup.end(false, {}, () => resolve()))

  const pub = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'race-pub', clean: true, reconnectPeriod: 0 })
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  let published = 0
  const publish = (): Promise<void> => new Promise((resolve, reject) => {
    pub.publish(TOPIC, String(published++), { qos: 1 }, (err) => err ? reject(err) : resolve())
  })
  for (let i = 0; i < QUEUED; i++) await publish()

  /** Highest message whose PUBACK the server surely handled (answered by a later PINGRESP). */
  let settled = -1
  const ackedOn: number[] = []
  const connections: Connection[] = []
  const seen = new Set<number>()
  const problems: string[] = []
  let current: Connection | undefined
  const onPublish = (conn: Connection, n: number, messageId: number): void => {
    if (!conn.current) return // abandoned: its late packets are not read as delivered
    const index = connections.indexOf(conn)
    // in order: whatever this connection skipped was acknowledged before
    const last = conn.received.at(-1) ?? -1
    if (n <= last) problems.push(`connection ${index}: ${n} after ${last}`)
    for (let m = last + 1; m < n; m++) {
      if (!seen.has(m)) {
        problems.push(`connection ${index}: ${n} before ${m}`)
        break
      }
    }
    if (n <= settled) problems.push(`connection ${index}: ${n} again, acknowledged before`)
    conn.received.push(n)
    if (!conn.acking) return
    seen.add(n)
    ackedOn[index] = Math.max(ackedOn[index] ?? -1, n)
    conn.socket.write(mqttPacket.generate({ cmd: 'puback', messageId }))
  }

  // keep publishing while the device reconnects, so live and queued deliveries meet
  let publishing = true
  const live = (async () => {
    while (publishing) {
      await publish()
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  })()

  for (let i = 0; i < RECONNECTS; i++) {
    if (current !== undefined) {
      // Its PUBACKs so far are handled once a PINGREQ sent after them is
      // answered (aedes reads the next packets only when those are done);
      // then the connection is abandoned as it stands, still open, with
      // deliveries under way (a device whose network changed).
      const old = current
      old.acking = false
      await new Promise((resolve) => setTimeout(resolve, 5))
      const pongs = old.pongs
      old.socket.write(mqttPacket.generate({ cmd: 'pingreq' }))
      await waitFor(() => old.pongs > pongs || old.droppedByServer, 'PINGRESP', 30_000)
      settled = Math.max(settled, ackedOn[connections.indexOf(old)] ?? -1)
      old.current = false
    }
    const next = await rawConnect(port, 'race-dev', connections, onPublish)
    current = next
    // reconnect during the drain: after a few deliveries, or at once every few rounds
    const target = i % 4 === 0 ? 0 : 1 + (i % 17)
    await waitFor(() => next.received.length >= target || next.droppedByServer, 'some deliveries', 30_000)
    const previous = connections.at(-2)
    previous?.socket.destroy()
  }
  publishing = false
  await live
  const total = published
  await waitFor(() => (seen.size >= total && current!.received.at(-1) === total - 1) || current!.droppedByServer, `all ${total} messages`, 60_000)
  current!.current = false
  current!.socket.destroy()

  t.same(problems.slice(0, 10), [], 'in order, no repeats within a connection, nothing acknowledged earlier came again')
  t.equal(connections.filter(c => c.droppedByServer).length, 0, 'the server never dropped the device')
  const missing: number[] = []
  for (let n = 0; n < total; n++) if (!seen.has(n)) missing.push(n)
  t.same(missing.slice(0, 10), [], `all ${total} messages arrived`)
  t.comment(`${total} messages, ${connections.length} connections, ${connections.reduce((a, c) => a + c.received.length, 0)} deliveries`)
})
