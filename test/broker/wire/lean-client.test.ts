import { once } from 'node:events'
import net from 'node:net'
import { PassThrough } from 'node:stream'
import { Aedes } from 'aedes'
import t, { type Test } from 'tap'
import { leanClient } from '../../../broker/wire/lean-client.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')
// CONNECT, "MQTT" level 4, clean session, keep alive 60 s, client id "canary"
const CONNECT = hex('10 12 00 04 4d 51 54 54 04 02 00 3c 00 06 63 61 6e 61 72 79')
/** PUBLISH QoS 2 on "a/b", payload "x", with packet id `id`. */
const publish2 = (id: number): Buffer => Buffer.from([0x34, 0x08, 0x00, 0x03, 0x61, 0x2f, 0x62, id >> 8, id & 0xff, 0x78])
const pubrel = (id: number): Buffer => Buffer.from([0x62, 0x02, id >> 8, id & 0xff])

interface Internals {
  conn: net.Socket
  closed: boolean
  _eos: unknown
  _inboundInflight: { size: number }
  _parser: { client: unknown, listeners: (event: string) => Array<(...args: unknown[]) => void> }
  on: (event: 'error', f: (err: Error) => void) => void
}

const until = async (what: string, ok: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5000
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within 5 s`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** An aedes broker on a real port whose connections go through leanClient; `clients` are aedes' Client objects. */
async function broker (t: Test, opts: { maxInflightInbound?: number } = {}): Promise<{ port: number, clients: Internals[], lean: boolean[] }> {
  const aedes = await Aedes.createBroker(opts)
  const clients: Internals[] = []
  const lean: boolean[] = []
  const server = net.createServer((socket) => {
    const client = aedes.handle(socket) as unknown as Internals
    lean.push(leanClient(client))
    clients.push(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })
  return { port: (server.address() as net.AddressInfo).port, clients, lean }
}

async function connect (t: Test, port: number): Promise<{ socket: net.Socket, replies: Buffer[] }> {
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  const replies: Buffer[] = []
  socket.on('data', (chunk: Buffer) => replies.push(chunk))
  socket.on('error', () => {})
  socket.write(CONNECT)
  await until('CONNACK', () => Buffer.concat(replies).length >= 4)
  t.equal(Buffer.concat(replies).subarray(0, 4).toString('hex'), '20020000', 'connected')
  return { socket, replies }
}

// leanClient replaces listeners that aedes 1.2.0's Client constructor adds
// (lib/client.js) and its `_inboundInflight` Set. If aedes changes any of
// them, this fails: the swap would be skipped (memory only), or a client
// would no longer close with its connection.
t.test('an aedes client holds the listeners and the Set that leanClient replaces', async (t) => {
  const aedes = await Aedes.createBroker()
  t.teardown(async () => { await new Promise<void>((resolve) => aedes.close(() => resolve())) })
  const socket = new net.Socket()
  const client = aedes.handle(socket) as unknown as Internals
  const names = (fs: Array<(...args: unknown[]) => void>): string[] => fs.map((f) => f.name)
  t.equal(socket.listeners('error').filter((f) => f.name === 'bound emit').length, 1, "conn 'error': the client's emit, bound")
  t.equal(socket.listeners('end').filter((f) => f.name === 'bound close').length, 1, "conn 'end': the client's close, bound")
  t.equal(client._parser.listeners('error').filter((f) => f.name === 'bound emit').length, 1, "parser 'error': the client's emit, bound")
  t.ok(socket.listeners('finish').length > 0, "finished() listens for 'finish'")
  t.type(client._eos, 'function', '_eos is the cleanup of finished()')
  t.ok(client._inboundInflight instanceof Set, '_inboundInflight is a Set')
  t.equal(client._parser.client, client, 'the parser knows its client')
  t.ok(leanClient(client), 'the swap applies')
  t.same(socket.listeners('finish'), [], "finished()'s listeners are gone")
  t.notOk(names(socket.listeners('error')).includes('bound emit'))
  t.notOk(names(socket.listeners('end')).includes('bound close'))
  t.notOk(names(client._parser.listeners('error')).includes('bound emit'))
  t.notOk(client._inboundInflight instanceof Set, 'the Set waits for its first use')
  t.notOk(leanClient(client), 'twice changes nothing')
  t.notOk(leanClient({}), 'nor anything that is not such a client')
  const ws = aedes.handle(new PassThrough() as unknown as net.Socket) as unknown as Internals
  t.notOk(leanClient(ws), 'a stream that is not a net.Socket keeps aedes\' own listeners')
  socket.destroy()
  ws.conn.destroy()
})

t.test('a lean client closes when its peer ends the connection', async (t) => {
  const { port, clients, lean } = await broker(t)
  const { socket } = await connect(t, port)
  t.same(lean, [true])
  socket.end()
  await until('close', () => clients[0]!.closed)
  t.pass('closed')
})

t.test('a lean client closes when the server destroys its socket, with or without an error', async (t) => {
  const { port, clients } = await broker(t)
  await connect(t, port)
  await connect(t, port)
  const errors: Error[] = []
  clients[1]!.on('error', (err) => errors.push(err))
  clients[0]!.conn.destroy()
  clients[1]!.conn.destroy(new Error('boom'))
  await until('close', () => clients[0]!.closed && clients[1]!.closed)
  t.match(errors, [{ message: 'boom' }], "the socket's error is the client's")
})

t.test('a parse error is the client\'s error and closes it', async (t) => {
  const { port, clients } = await broker(t)
  const { socket } = await connect(t, port)
  const errors: Error[] = []
  clients[0]!.on('error', (err) => errors.push(err))
  socket.write(hex('00 00')) // packet type 0 is reserved
  await until('close', () => clients[0]!.closed)
  t.equal(errors.length, 1, 'one error')
})

t.test('the inbound QoS 2 window still holds with the lazy Set', async (t) => {
  const { port, clients } = await broker(t, { maxInflightInbound: 2 })
  const a = await connect(t, port)
  // two in flight, one released, one more: still within the window
  a.socket.write(Buffer.concat([publish2(1), publish2(2)]))
  await until('PUBRECs', () => Buffer.concat(a.replies).length >= 4 + 8)
  t.equal(clients[0]!._inboundInflight.size, 2, 'two awaiting PUBREL')
  a.socket.write(pubrel(1))
  await until('PUBCOMP', () => Buffer.concat(a.replies).length >= 4 + 8 + 4)
  t.equal(clients[0]!._inboundInflight.size, 1, 'one left')
  a.socket.write(publish2(3))
  await until('PUBREC', () => Buffer.concat(a.replies).length >= 4 + 8 + 4 + 4)
  t.notOk(clients[0]!.closed, 'within the window')
  // a third awaiting PUBREL is over the window: the connection closes
  a.socket.write(publish2(4))
  await until('close', () => clients[0]!.closed)
  t.equal(Buffer.concat(a.replies).length, 4 + 8 + 4 + 4, 'no PUBREC for the one over the window')
})
