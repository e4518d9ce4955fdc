import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { Aedes } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { createRequire } from 'node:module'
import t from 'tap'
import { leanParser, leanSettings } from '../../../broker/wire/lean-parser.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')
// CONNECT, "MQTT" level 4, clean session, keep alive 60 s, client id "canary"
const CONNECT = hex('10 12 00 04 4d 51 54 54 04 02 00 3c 00 06 63 61 6e 61 72 79')
// SUBSCRIBE id 1, "a/b" at QoS 1
const SUBSCRIBE = hex('82 08 00 01 00 03 61 2f 62 01')

interface Parsed { cmd: string, clientId?: string, messageId?: number, subscriptions?: Array<{ topic: string, qos: number }> }

// leanParser swaps mqtt-packet 9's `parser._list` (a bl BufferListStream, made
// again by `_resetState` after an error) for a plain BufferList. If mqtt-packet
// or aedes change either, this fails: the swap would be skipped (memory only)
// or, worse, the parser would read from a list it no longer fills.
t.test('an mqtt-packet parser keeps its BufferListStream in _list and makes it again in _resetState', async (t) => {
  const parser = mqttPacket.parser() as unknown as { _list: { pipe?: unknown, constructor: { name: string } }, _resetState: () => void }
  t.equal(parser._list.constructor.name, 'BufferListStream')
  t.type(parser._resetState, 'function')
  t.ok(leanParser(parser), 'the swap applies')
  t.equal(parser._list.constructor.name, 'BufferList')
  t.equal(parser._list.pipe, undefined, 'no stream any more')
})

t.test('a lean parser reads packets split at every byte, and again after a parse error', async (t) => {
  const parser = mqttPacket.parser()
  t.ok(leanParser(parser))
  const packets: Parsed[] = []
  const errors: Error[] = []
  parser.on('packet', (p: Parsed) => packets.push(p))
  parser.on('error', (err: Error) => errors.push(err))
  const both = Buffer.concat([CONNECT, SUBSCRIBE])
  for (let i = 0; i < both.length; i++) parser.parse(both.subarray(i, i + 1))
  t.match(packets, [{ cmd: 'connect', clientId: 'canary' }, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b', qos: 1 }] }])
  // A reserved packet type (0): mqtt-packet reports an error and resets its state.
  parser.parse(hex('00 00'))
  t.equal(errors.length, 1, 'the bad packet is an error')
  parser.parse(SUBSCRIBE)
  t.equal((parser as unknown as { _list: { constructor: { name: string } } })._list.constructor.name, 'BufferList', 'the reset made a plain list again')
  t.match(packets.at(-1), { cmd: 'subscribe', messageId: 1 }, 'and the parser reads on')
})

t.test('a parser already holding bytes is left as it is', async (t) => {
  const parser = mqttPacket.parser()
  parser.parse(CONNECT.subarray(0, 5))
  t.notOk(leanParser(parser))
  t.notOk(leanParser({}), 'nor anything that is not such a parser')
})

t.test('aedes 1.2 still parses through client._parser: a lean one serves a real connection', async (t) => {
  const aedes = await Aedes.createBroker()
  let swapped = false
  const server = net.createServer((socket) => {
    const client = aedes.handle(socket) as unknown as { _parser: object }
    swapped = leanParser(client._parser)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  const replies: Buffer[] = []
  socket.on('data', (chunk: Buffer) => replies.push(chunk))
  // the CONNECT and the SUBSCRIBE in three pieces, cut inside each packet
  socket.write(CONNECT.subarray(0, 7))
  await new Promise((resolve) => setTimeout(resolve, 20))
  socket.write(Buffer.concat([CONNECT.subarray(7), SUBSCRIBE.subarray(0, 3)]))
  await new Promise((resolve) => setTimeout(resolve, 20))
  socket.write(SUBSCRIBE.subarray(3))
  const deadline = Date.now() + 5000
  while (Buffer.concat(replies).length < 9 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  t.ok(swapped, 'the swap applied to aedes\' parser')
  // CONNACK (accepted, no session), then SUBACK id 1 granting QoS 1
  t.equal(Buffer.concat(replies).toString('hex'), '20020000' + '9003000101')
})

// leanSettings replaces mqtt-packet 9's `parser.settings` (the whole CONNECT
// packet, kept for the connection's life) with a shared object holding what
// the parser reads from it. If mqtt-packet reads more, this fails.
t.test('after a CONNECT a parser reads only protocolVersion and bridgeMode from its settings', async (t) => {
  const source = readFileSync(createRequire(import.meta.url).resolve('mqtt-packet/parser.js'), 'utf8')
  const read = new Set([...source.matchAll(/this\.settings\.(\w+)/g)].map((m) => m[1]))
  t.same([...read].sort(), ['bridgeMode', 'protocolVersion'], 'the fields the parser reads')
  const parser = mqttPacket.parser() as unknown as { settings: Record<string, unknown>, parse: (b: Buffer) => number, on: (e: string, f: (p: Parsed) => void) => void }
  const packets: Parsed[] = []
  parser.on('packet', (p) => packets.push(p))
  parser.parse(CONNECT)
  t.match(parser.settings, { cmd: 'connect', protocolVersion: 4, clientId: 'canary' }, 'the CONNECT itself')
  leanSettings(parser)
  t.same(parser.settings, { protocolVersion: 4, bridgeMode: undefined }, 'two fields left')
  t.ok(Object.isFrozen(parser.settings))
  const other = mqttPacket.parser() as unknown as { settings: object, parse: (b: Buffer) => number }
  other.parse(CONNECT)
  leanSettings(other)
  t.equal(other.settings, parser.settings, 'shared between connections')
  parser.parse(SUBSCRIBE)
  t.match(packets.at(-1), { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b', qos: 1 }] }, 'the parser reads on')
  const fresh = mqttPacket.parser() as unknown as { settings: object }
  const before = fresh.settings
  leanSettings(fresh)
  t.equal(fresh.settings, before, 'no CONNECT read yet: left alone')
})

t.test('an MQTT 5 parser keeps reading MQTT 5 packets after leanSettings', async (t) => {
  const v5 = mqttPacket.generate({ cmd: 'connect', protocolVersion: 5, clientId: 'five', clean: true, keepalive: 0, properties: { sessionExpiryInterval: 10 } } as never)
  const sub = mqttPacket.generate({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'c/d', qos: 1, nl: true }], properties: { subscriptionIdentifier: 3 } } as never, { protocolVersion: 5 })
  const parser = mqttPacket.parser() as unknown as { settings: object, parse: (b: Buffer) => number, on: (e: string, f: (p: Parsed & { properties?: object }) => void) => void }
  const packets: Array<Parsed & { properties?: object }> = []
  parser.on('packet', (p) => packets.push(p))
  parser.parse(v5)
  leanSettings(parser)
  t.same(parser.settings, { protocolVersion: 5, bridgeMode: undefined })
  parser.parse(sub)
  t.match(packets.at(-1), { cmd: 'subscribe', messageId: 7, properties: { subscriptionIdentifier: 3 }, subscriptions: [{ topic: 'c/d', nl: true }] })
})
