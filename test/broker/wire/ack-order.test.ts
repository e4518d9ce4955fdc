import { once } from 'node:events'
import net from 'node:net'
import { Aedes } from 'aedes'
import t, { type Test } from 'tap'
import { guardedHandle } from '../../../broker/wire/guarded-handle.js'
import { hex, pkt, str } from '../../helpers/mqtt-bytes.js'

// A raw client subscribed at QoS 2 gets a delivery at QoS 1 or 2, then
// answers it with the given acks; mosquitto closes on every wrong one.
const LIMIT = 5_000

async function broker (t: Test): Promise<{ aedes: Aedes, port: number }> {
  const aedes = await Aedes.createBroker()
  const handle = guardedHandle(aedes, { maxPacketSize: 4096 })
  const server = net.createServer((socket) => handle(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })
  return { aedes, port: (server.address() as net.AddressInfo).port }
}

class Raw {
  data = Buffer.alloc(0)
  closed = false
  readonly socket: net.Socket
  constructor (port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port })
    this.socket.on('error', () => {})
    this.socket.on('data', (chunk: Buffer) => { this.data = Buffer.concat([this.data, chunk]) })
    this.socket.on('close', () => { this.closed = true })
  }

  /** Waits for `n` bytes after those taken so far and takes them (as hex), or throws on close or timeout. */
  async take (n: number, what: string): Promise<string> {
    const deadline = Date.now() + LIMIT
    while (this.data.length < n) {
      if (this.closed) throw new Error(`closed while waiting for ${what}`)
      if (Date.now() > deadline) throw new Error(`no ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const taken = this.data.subarray(0, n).toString('hex')
    this.data = this.data.subarray(n)
    return taken
  }

  async closedWithin (ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    while (!this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    return this.closed
  }
}

/** Connected, subscribed to d/# at QoS 2, and sent one PUBLISH at `qos`: its packet id, as two hex bytes. */
async function delivered (t: Test, qos: 1 | 2): Promise<{ raw: Raw, id: string }> {
  const { aedes, port } = await broker(t)
  const raw = new Raw(port)
  t.teardown(() => { raw.socket.destroy() })
  raw.socket.write(pkt(0x10, str('MQTT'), '04 02 00 3c', str(`acker-${qos}`)))
  t.equal(await raw.take(4, 'CONNACK'), '20020000')
  raw.socket.write(pkt(0x82, '00 01', str('d/#'), '02'))
  t.equal(await raw.take(5, 'SUBACK'), '9003000102')
  aedes.publish({ cmd: 'publish', topic: 'd/x', payload: Buffer.from('hi'), qos, retain: false, dup: false }, () => {})
  // PUBLISH: first byte, length 9, topic "d/x" (5), packet id (2), "hi" (2)
  const publish = await raw.take(11, 'the PUBLISH')
  t.equal(publish.slice(0, 2), qos === 1 ? '32' : '34')
  return { raw, id: publish.slice(14, 18) }
}

const cases: Array<{ name: string, qos: 1 | 2, acks: (id: string) => string[], closes: boolean }> = [
  { name: 'a QoS 1 delivery answered with PUBACK: served', qos: 1, acks: (id) => [`4002${id}`], closes: false },
  { name: 'a QoS 1 delivery answered with PUBREC is closed (aedes sent a PUBREL)', qos: 1, acks: (id) => [`5002${id}`], closes: true },
  { name: 'a QoS 1 delivery answered with PUBCOMP is closed', qos: 1, acks: (id) => [`7002${id}`], closes: true },
  { name: 'a QoS 2 delivery answered with PUBREC then PUBCOMP: served', qos: 2, acks: (id) => [`5002${id}`, `7002${id}`], closes: false },
  { name: 'a QoS 2 delivery answered with PUBACK is closed', qos: 2, acks: (id) => [`4002${id}`], closes: true },
  { name: 'a QoS 2 delivery answered with PUBCOMP before any PUBREL is closed', qos: 2, acks: (id) => [`7002${id}`], closes: true },
  { name: 'a PUBACK after the PUBREL of a QoS 2 delivery is closed', qos: 2, acks: (id) => [`5002${id}`, `4002${id}`], closes: true },
  { name: 'a PUBREC repeated after the PUBREL: served', qos: 2, acks: (id) => [`5002${id}`, `5002${id}`, `7002${id}`], closes: false }
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { raw, id } = await delivered(t, c.qos)
    for (const ack of c.acks(id)) {
      raw.socket.write(hex(ack))
      // After a PUBREC the server answers PUBREL before the next ack goes.
      if (ack.startsWith('50') && !c.closes) t.equal(await raw.take(4, 'PUBREL'), `6202${id}`)
      else if (ack.startsWith('50') && c.acks(id).length > 1) t.equal(await raw.take(4, 'PUBREL'), `6202${id}`)
    }
    if (c.closes) {
      t.ok(await raw.closedWithin(LIMIT), 'the connection is closed')
    } else {
      raw.socket.write(hex('c0 00'))
      t.equal(await raw.take(2, 'PINGRESP'), 'd000', 'the connection is served')
    }
  })
}

t.test('an ack for a packet id the server has no delivery under is left to aedes: served', async (t) => {
  const { raw } = await delivered(t, 1)
  raw.socket.write(hex('50 02 12 34'))
  t.equal(await raw.take(4, 'PUBREL'), '62021234')
  raw.socket.write(hex('40 02 43 21 c0 00'))
  t.equal(await raw.take(2, 'PINGRESP'), 'd000')
})
