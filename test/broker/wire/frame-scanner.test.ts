import t from 'tap'
import { FrameScanner } from '../../../broker/wire/frame-scanner.js'
import { rejections } from '../../../broker/wire/rejections.js'
import { hex, pkt, str } from '../../helpers/mqtt-bytes.js'

const MAX = 300
const scanner = (): FrameScanner => new FrameScanner({ maxPacketSize: MAX, maxClientIdLength: 23 })
const CONNECT = pkt(0x10, str('MQTT'), '04 c2 00 3c', str('scanner'), str('user'), str('pass'))

// A session's worth of valid packets, in the order a client could send them.
const SESSION = Buffer.concat([
  CONNECT,
  pkt(0x82, '00 01', str('a/+/b'), '01', str('#'), '02'),
  pkt(0x30, str('t/é'), '00 ff fe'), // a payload is bytes, not UTF-8
  pkt(0x32, str('t/1'), '00 02', 'aa bb'),
  pkt(0x34, str('t/2'), '00 03'),
  pkt(0x3d, str('t/3'), '00 04', Buffer.alloc(200)), // QoS 2, DUP, RETAIN; Remaining Length in two bytes
  hex('40 02 00 05'), hex('50 02 00 06'), hex('62 02 00 07'), hex('70 02 00 08'),
  pkt(0xa2, '00 09', str('a/+/b')),
  hex('c0 00'),
  hex('e0 00')
])

t.test('a valid session passes in one chunk, byte by byte, and split at every offset', async (t) => {
  t.equal(scanner().scan(SESSION), null, 'one chunk')
  const bytes = scanner()
  for (let i = 0; i < SESSION.length; i++) {
    if (bytes.scan(SESSION.subarray(i, i + 1)) !== null) t.fail(`byte ${i} refused`)
  }
  for (let at = 1; at < SESSION.length; at++) {
    const s = scanner()
    const first = s.scan(SESSION.subarray(0, at))
    const second = s.scan(SESSION.subarray(at))
    if (first !== null || second !== null) t.fail(`split at ${at} refused`)
  }
})

t.test('a Remaining Length over the limit is refused on its last byte, before any body', async (t) => {
  const s = scanner()
  t.equal(s.scan(CONNECT), null)
  t.same(s.scan(hex('30 80 80 80 32')), { rejection: rejections.packetTooLarge, cut: 0 }, '100 MB announced')
})

t.test('the limit counts the whole packet: exactly maxPacketSize passes, one byte more does not', async (t) => {
  // 1 type byte + 2 length bytes + 2 + 1 topic + payload = MAX
  const exact = pkt(0x30, str('t'), Buffer.alloc(MAX - 6))
  t.equal(exact.length, MAX)
  const s = scanner()
  t.equal(s.scan(Buffer.concat([CONNECT, exact])), null)
  const over = pkt(0x30, str('t'), Buffer.alloc(MAX - 5))
  t.equal(s.scan(over)?.rejection, rejections.packetTooLarge)
})

t.test('a Remaining Length with a fifth byte is refused at the fourth', async (t) => {
  const s = scanner()
  s.scan(CONNECT)
  t.same(s.scan(hex('30 ff ff ff ff')), { rejection: rejections.remainingLength, cut: 0 })
})

t.test('cut keeps the whole packets before the refused one', async (t) => {
  const ping = hex('c0 00')
  const s = scanner()
  const verdict = s.scan(Buffer.concat([CONNECT, ping, hex('c0 01 00')]))
  t.same(verdict, { rejection: rejections.remainingLength, cut: CONNECT.length + ping.length })
})

t.test('cut is 0 when the refused packet began in an earlier chunk', async (t) => {
  const s = scanner()
  t.equal(s.scan(Buffer.concat([CONNECT, hex('32 05 00 01')])), null)
  t.same(s.scan(hex('61 00 00')), { rejection: rejections.packetIdZero, cut: 0 })
})

t.test('once refused, every later chunk is refused whole', async (t) => {
  const s = scanner()
  s.scan(Buffer.concat([CONNECT, hex('d0 00')]))
  t.same(s.scan(hex('c0 00')), { rejection: rejections.serverPacket, cut: 0 })
})

t.test('a CONNECT split across chunks is checked once whole', async (t) => {
  const bad = pkt(0x10, str('MQTT'), '03 02 00 3c', str('x'))
  const s = scanner()
  t.equal(s.scan(bad.subarray(0, 5)), null)
  t.same(s.scan(bad.subarray(5)), { rejection: rejections.protocolLevel, cut: 0 })
})

t.test('what mqtt-packet or aedes refuse is let through for them to refuse', async (t) => {
  const connected = (): FrameScanner => {
    const s = scanner()
    s.scan(CONNECT)
    return s
  }
  // Flags other than 0010 on SUBSCRIBE: the body (with packet id 0) is not read.
  t.equal(connected().scan(pkt(0x80, '00 00', str('a'), '00')), null, 'SUBSCRIBE flags')
  t.equal(connected().scan(pkt(0x36, str('a'), '00 00')), null, 'PUBLISH QoS 3')
  t.equal(connected().scan(hex('00 00')), null, 'type 0')
  t.equal(connected().scan(hex('f0 00')), null, 'type 15')
  t.equal(connected().scan(CONNECT), null, 'a second CONNECT')
  t.equal(connected().scan(pkt(0x30, str('a/#'))), null, 'a wildcard in a PUBLISH topic')
  t.equal(connected().scan(pkt(0x82, '00 01', str('a'), '03')), null, 'SUBSCRIBE QoS 3')
  const notConnected = scanner()
  t.equal(notConnected.scan(pkt(0x32, str('a'), '00 00')), null, 'anything before CONNECT')
  t.equal(notConnected.scan(pkt(0x32, str('a'), '00 00')), null, 'and after a first packet that was not CONNECT')
  t.equal(notConnected.scan(hex('30 80 80 80 32'))?.rejection, rejections.packetTooLarge, 'though the size limit holds')
})

t.test('a PUBLISH payload is never read', async (t) => {
  const s = scanner()
  s.scan(CONNECT)
  t.equal(s.scan(pkt(0x32, str('t'), '00 01', '00 ff c0 af ed a0 80')), null)
})

t.test('a PUBLISH without room for its topic or packet id is refused', async (t) => {
  const cases = { 'no topic length': '30 01 00', 'topic past the end': '30 03 00 05 61', 'no packet id': '32 03 00 01 61' }
  for (const [name, bytes] of Object.entries(cases)) {
    const s = scanner()
    s.scan(CONNECT)
    t.equal(s.scan(hex(bytes))?.rejection, rejections.malformedPublish, name)
  }
})
