import { EventEmitter, once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { PassThrough, Writable } from 'node:stream'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import { pino } from 'pino'
import t from 'tap'
import { WebSocket, WebSocketServer, createWebSocketStream } from 'ws'
import { Metrics } from '../../../broker/metrics.js'
import { guardedHandle } from '../../../broker/wire/guarded-handle.js'

/** An upper bound so a broken guard fails the test instead of hanging it; not a timing assertion. */
const within = async <T>(promise: Promise<T>, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within 5 s`)), 5_000)
  })
  try {
    return await Promise.race([promise, limit])
  } finally {
    clearTimeout(timer)
  }
}
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')
// CONNECT, "MQTT" level 4, clean session, keep alive 60 s, client id "canary"
const CONNECT = hex('10 12 00 04 4d 51 54 54 04 02 00 3c 00 06 63 61 6e 61 72 79')

// guardedHandle hooks `client._parser.parse`, an aedes 1.2.0 internal
// (lib/client.js). If aedes renames it or stops reading through it, this test
// fails: the guard would otherwise be silently bypassed or refuse everyone.
t.test('aedes still feeds every chunk it reads through client._parser.parse', async (t) => {
  const aedes = await Aedes.createBroker()
  const seen: Buffer[] = []
  const server = net.createServer((socket) => {
    const client = aedes.handle(socket) as unknown as { _parser?: { parse?: (buf: Buffer) => number, prependListener?: unknown } }
    const parser = client._parser
    t.type(parser?.parse, 'function', 'client._parser.parse exists')
    t.type(parser?.prependListener, 'function', 'client._parser is an EventEmitter')
    const parse = parser!.parse!
    parser!.parse = (buf: Buffer) => {
      seen.push(buf)
      return parse.call(parser, buf)
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  socket.write(CONNECT)
  const [connack] = await within(once(socket, 'data'), 'CONNACK') as [Buffer]
  t.equal(connack.toString('hex'), '20020000', 'the CONNECT went through the hook and was answered')
  t.same(Buffer.concat(seen), CONNECT, 'the hook saw exactly the bytes sent')
})

t.test('a client without the parser hook is refused, never served unguarded', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino(new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    }
  }))
  const fakeAedes = { handle: () => new EventEmitter() } as unknown as Aedes
  const conn = new PassThrough()
  guardedHandle(fakeAedes, { maxPacketSize: 1024, logger })(conn)
  t.ok(conn.destroyed, 'connection destroyed')
  t.match(lines, [{ level: 50, msg: /_parser/ }], 'an error names the missing internal')
})

t.test('maxPacketSize must be a whole number of at least 2 bytes', async (t) => {
  const aedes = new Aedes()
  for (const maxPacketSize of [0, 1, 1.5, Number.NaN]) {
    t.throws(() => guardedHandle(aedes, { maxPacketSize }), { code: 'HAIL_ERR_CONFIG' }, String(maxPacketSize))
  }
})

t.test('a WebSocket stream is guarded too, and logged with the address of its request', async (t) => {
  const aedes = await Aedes.createBroker()
  const metrics = new Metrics()
  const lines: Array<Record<string, unknown>> = []
  const logger = pino(new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    }
  }))
  const handle = guardedHandle(aedes, { maxPacketSize: 1024, metrics, logger })
  const server = http.createServer()
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws, req) => handle(createWebSocketStream(ws), req))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  const client = await mqtt.connectAsync(url, { clientId: 'ws-ok', reconnectPeriod: 0 })
  t.teardown(async () => {
    await client.endAsync(true)
    wss.close()
    server.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })
  await client.subscribeAsync('ws/t', { qos: 1 })
  const got = new Promise<string>((resolve) => client.once('message', (topic) => resolve(topic)))
  await client.publishAsync('ws/t', 'hi', { qos: 1 })
  t.equal(await within(got, 'message'), 'ws/t', 'a well-behaved WebSocket client is served')

  const raw = new WebSocket(url, 'mqtt')
  await within(once(raw, 'open'), 'WebSocket open')
  raw.send(CONNECT)
  await within(once(raw, 'message'), 'CONNACK')
  raw.send(hex('32 05 00 01 61 00 00')) // PUBLISH QoS 1, packet id 0 [MQTT-2.3.1-1]
  await within(once(raw, 'close'), 'close by the server')
  t.equal((await metrics.protocolErrors.get()).values.find((v) => v.labels.reason === 'packet_id_zero')?.value, 1)
  t.match(lines, [{ level: 40, reason: 'packet_id_zero', address: '127.0.0.1' }])
})
