import { once } from 'node:events'
import net from 'node:net'
import { Writable } from 'node:stream'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import { pino } from 'pino'
import t from 'tap'
import { Metrics } from '../../../broker/metrics.js'
import { guardedHandle } from '../../../broker/wire/guarded-handle.js'
import { hex, pkt, str } from '../../helpers/mqtt-bytes.js'

// Every row is a byte sequence written from the MQTT 3.1.1 text, sent on a
// raw socket to a real aedes broker whose connections go through
// guardedHandle. Timeouts below are upper bounds so a broken guard fails
// instead of hanging; nothing here measures time.
const LIMIT = 5_000
const MAX_PACKET_SIZE = 1024
const MAX_CLIENT_ID_LENGTH = 64

// ---- byte helpers ----------------------------------------------------------
/** CONNECT: "MQTT" level 4, the given flags, keep alive 60 s, then the payload fields. */
const connect = (flags: string, ...payload: Buffer[]): Buffer => pkt(0x10, str('MQTT'), '04', flags, '00 3c', ...payload)
const bytesOf = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

// ---- the table ---------------------------------------------------------------
type Outcome = 'closed' | 'connack 0x01' | 'connack 0x02' | 'open'
interface Row {
  name: string
  /** Send a valid CONNECT and read its CONNACK first. */
  connected?: boolean
  /** One write, or several (paced) writes. */
  send: Buffer | Buffer[]
  expect: Outcome
  /** The counter that must go up by one: `reason` of protocolErrors, or `limit` of limitHits. */
  reason?: string
  limit?: string
  /** For 'open' rows: the packets the server sends back, in any order (the test adds a PINGREQ and waits for its PINGRESP too). */
  replies?: string[]
}

const bigTopicPublish = (total: number): Buffer => pkt(0x32, str('big'), '00 2a', Buffer.alloc(total - 10)) // 1 + 2 length bytes + 5 + 2
const longId = 'x'.repeat(MAX_CLIENT_ID_LENGTH)

const ROWS: Row[] = [
  // Fixed header and framing
  { name: 'a PUBLISH announcing 100 MB is closed after its five header bytes', connected: true, send: hex('30 80 80 80 32 00 01 61'), expect: 'closed', limit: 'maxPacketSize' },
  { name: 'a PUBLISH one byte over maxPacketSize', connected: true, send: bigTopicPublish(MAX_PACKET_SIZE + 1), expect: 'closed', limit: 'maxPacketSize' },
  { name: 'a CONNECT announcing 100 MB', send: hex('10 80 80 80 32'), expect: 'closed', limit: 'maxPacketSize' },
  { name: 'a Remaining Length of more than four bytes [MQTT-2.2.3]', connected: true, send: hex('30 ff ff ff ff 01'), expect: 'closed', reason: 'remaining_length' },
  { name: 'a first packet with a Remaining Length of more than four bytes', send: hex('10 80 80 80 80 01'), expect: 'closed', reason: 'remaining_length' },
  { name: 'reserved packet type 0', connected: true, send: hex('00 00'), expect: 'closed', reason: 'reserved_type' },
  { name: 'reserved packet type 15', connected: true, send: hex('f0 00'), expect: 'closed', reason: 'reserved_type' },
  { name: 'SUBSCRIBE with header flags 0000 [MQTT-3.8.1-1]', connected: true, send: pkt(0x80, '00 01', str('a'), '00'), expect: 'closed', reason: 'header_flags' },
  { name: 'UNSUBSCRIBE with header flags 0000 [MQTT-3.10.1-1]', connected: true, send: pkt(0xa0, '00 01', str('a')), expect: 'closed', reason: 'header_flags' },
  { name: 'PUBREL with header flags 0000 [MQTT-3.6.1-1]', connected: true, send: hex('60 02 00 01'), expect: 'closed', reason: 'header_flags' },
  { name: 'PUBACK with header flags 0001 [MQTT-2.2.2-2]', connected: true, send: hex('41 02 00 01'), expect: 'closed', reason: 'header_flags' },
  { name: 'PINGREQ with header flags 1000', connected: true, send: hex('c8 00'), expect: 'closed', reason: 'header_flags' },
  { name: 'DISCONNECT with header flags 0010', connected: true, send: hex('e2 00'), expect: 'closed', reason: 'header_flags' },
  { name: 'CONNECT with header flags 0001', send: pkt(0x11, str('MQTT'), '04 02 00 3c', str('flags')), expect: 'closed', reason: 'header_flags' },
  { name: 'PUBLISH with QoS 3 [MQTT-3.3.1-4]', connected: true, send: pkt(0x36, str('a'), '00 01'), expect: 'closed', reason: 'publish_qos' },
  { name: 'PINGREQ with a Remaining Length of 1', connected: true, send: hex('c0 01 00'), expect: 'closed', reason: 'remaining_length' },
  { name: 'DISCONNECT with a Remaining Length of 1', connected: true, send: hex('e0 01 00'), expect: 'closed', reason: 'remaining_length' },
  { name: 'PUBACK with a Remaining Length of 3', connected: true, send: hex('40 03 00 01 00'), expect: 'closed', reason: 'remaining_length' },
  { name: 'PUBREC with a Remaining Length of 1', connected: true, send: hex('50 01 00'), expect: 'closed', reason: 'remaining_length' },
  { name: 'a CONNACK sent by a client', connected: true, send: hex('20 02 00 00'), expect: 'closed', reason: 'server_packet' },
  { name: 'a SUBACK sent by a client', connected: true, send: hex('90 03 00 01 00'), expect: 'closed', reason: 'server_packet' },
  { name: 'an UNSUBACK sent by a client', connected: true, send: hex('b0 02 00 01'), expect: 'closed', reason: 'server_packet' },
  { name: 'a PINGRESP sent by a client', connected: true, send: hex('d0 00'), expect: 'closed', reason: 'server_packet' },

  // Order of packets
  { name: 'a PINGREQ before CONNECT [MQTT-3.1.0-1]', send: hex('c0 00'), expect: 'closed', reason: 'connect_first' },
  { name: 'a PUBLISH before CONNECT [MQTT-3.1.0-1]', send: pkt(0x30, str('a'), '68 69'), expect: 'closed', reason: 'connect_first' },
  { name: 'a second CONNECT [MQTT-3.1.0-2]', connected: true, send: connect('02', str('again')), expect: 'closed', reason: 'second_connect' },

  // CONNECT
  { name: 'CONNECT with the reserved flag set [MQTT-3.1.2-3]', send: connect('03', str('r')), expect: 'closed', reason: 'connect_flags' },
  { name: 'CONNECT with Will QoS 1 but no Will Flag [MQTT-3.1.2-13]', send: connect('0a', str('w')), expect: 'closed', reason: 'will_flags' },
  { name: 'CONNECT with Will Retain but no Will Flag [MQTT-3.1.2-15]', send: connect('22', str('w')), expect: 'closed', reason: 'will_flags' },
  { name: 'CONNECT with Will QoS 3 [MQTT-3.1.2-14]', send: connect('1e', str('w'), str('will/t'), str('bye')), expect: 'closed', reason: 'will_qos' },
  { name: 'CONNECT with a password but no user name [MQTT-3.1.2-22]', send: connect('42', str('p'), str('secret')), expect: 'closed', reason: 'password_flag' },
  { name: 'CONNECT "MQTT" level 3 [MQTT-3.1.2-2]', send: pkt(0x10, str('MQTT'), '03 02 00 3c', str('l3')), expect: 'connack 0x01', reason: 'protocol_level' },
  { name: 'CONNECT "MQTT" level 5 (MQTT 5)', send: pkt(0x10, str('MQTT'), '05 02 00 3c 00', str('l5')), expect: 'connack 0x01', reason: 'protocol_level' },
  { name: 'CONNECT "MQTT" level 6', send: pkt(0x10, str('MQTT'), '06 02 00 3c', str('l6')), expect: 'connack 0x01', reason: 'protocol_level' },
  { name: 'CONNECT "MQIsdp" level 4', send: pkt(0x10, str('MQIsdp'), '04 02 00 3c', str('i4')), expect: 'connack 0x01', reason: 'protocol_level' },
  { name: 'CONNECT with protocol name "MQTX" [MQTT-3.1.2-1]', send: pkt(0x10, str('MQTX'), '04 02 00 3c', str('n')), expect: 'closed', reason: 'protocol_name' },
  { name: 'MQTT 3.1: an empty client id, even with Clean Session 1 (3.1 §3.1: 1-23 characters)', send: pkt(0x10, str('MQIsdp'), '03 02 00 3c', str('')), expect: 'connack 0x02', reason: 'client_id' },
  // Policy (docs/conformance.md): 3.1 left these bits unused and mosquitto ignores them; Hail applies 3.1.1's rule to 3.1 too
  { name: 'MQTT 3.1: CONNECT with the reserved flag set (closed, as for 3.1.1)', send: pkt(0x10, str('MQIsdp'), '03 03 00 3c', str('r31')), expect: 'closed', reason: 'connect_flags' },
  { name: 'MQTT 3.1: CONNECT with fixed-header flags set (closed, as for 3.1.1)', send: pkt(0x12, str('MQIsdp'), '03 02 00 3c', str('f31')), expect: 'closed' },
  { name: 'MQTT 3.1: a client id of 24 characters (3.1 §3.1: 1-23 characters)', send: pkt(0x10, str('MQIsdp'), '03 02 00 3c', str('y'.repeat(24))), expect: 'connack 0x02', reason: 'client_id' },
  { name: 'an empty client id with Clean Session 0 [MQTT-3.1.3-8]', send: connect('00', str('')), expect: 'connack 0x02', reason: 'client_id' },
  { name: 'a client id one character over the limit', send: connect('02', str(longId + 'y')), expect: 'connack 0x02', limit: 'maxClientIdLength' },
  { name: 'a client id that is not UTF-8 [MQTT-1.5.3-1]', send: connect('02', str(hex('61 c3 28'))), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'a client id with an encoded surrogate [MQTT-1.5.3-1]', send: connect('02', str(hex('61 ed a0 80'))), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'a client id with an overlong encoding [MQTT-1.5.3-1]', send: connect('02', str(hex('61 c0 af'))), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'a client id with U+0000 [MQTT-1.5.3-2]', send: connect('02', str(hex('61 00 62'))), expect: 'closed', reason: 'null_char' },
  { name: 'a user name that is not UTF-8', send: connect('82', str('u'), str(hex('75 ff'))), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'a will topic that is not UTF-8', send: connect('06', str('w'), str(hex('77 fe')), str('bye')), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'a will topic with a wildcard', send: connect('06', str('w'), str('will/#'), str('bye')), expect: 'closed', reason: 'will_topic' },
  { name: 'an empty will topic', send: connect('06', str('w'), str(''), str('bye')), expect: 'closed', reason: 'will_topic' },
  { name: 'a CONNECT whose client id runs past the packet', send: pkt(0x10, str('MQTT'), '04 02 00 3c', '00 09 61 62'), expect: 'closed', reason: 'malformed' },
  { name: 'CONNECT with a user name its flags say is absent [MQTT-3.1.2-18]', send: hex('10 10 0004 4D515454 04 02 000A 0001 70 0001 70'), expect: 'closed', reason: 'connect_length' },
  { name: 'CONNECT with a password its flags say is absent [MQTT-3.1.2-20]', send: connect('82', str('pw'), str('user'), str('pass')), expect: 'closed', reason: 'connect_length' },
  { name: 'CONNECT with a will its flags say is absent [MQTT-3.1.2-9]', send: connect('02', str('wl'), str('will/t'), str('bye')), expect: 'closed', reason: 'connect_length' },
  { name: 'CONNECT with one byte after its last field [MQTT-3.1.4-1]', send: connect('c2', str('tb'), str('user'), str('pass'), hex('00')), expect: 'closed', reason: 'connect_length' },

  // Control characters, §1.5.3 (limits.allowControlCharacters turns this off)
  { name: 'a client id with U+0001', send: connect('02', str('a\u0001b')), expect: 'closed', reason: 'control_char' },
  { name: 'a user name with ESC (U+001B)', send: connect('82', str('cu'), str('u\u001b[31m')), expect: 'closed', reason: 'control_char' },
  { name: 'a will topic with a newline', send: connect('06', str('cw'), str('will/a\nb'), str('bye')), expect: 'closed', reason: 'control_char' },
  { name: 'a PUBLISH topic with DEL (U+007F)', connected: true, send: pkt(0x30, str('a/\u007f')), expect: 'closed', reason: 'control_char' },
  { name: 'a PUBLISH topic with a C1 control (U+0085)', connected: true, send: pkt(0x32, str('a/\u0085'), '00 01'), expect: 'closed', reason: 'control_char' },
  { name: 'a SUBSCRIBE filter with a TAB', connected: true, send: pkt(0x82, '00 01', str('a/\tb'), '00'), expect: 'closed', reason: 'control_char' },
  { name: 'an UNSUBSCRIBE filter with U+009F', connected: true, send: pkt(0xa2, '00 01', str('a/\u009f')), expect: 'closed', reason: 'control_char' },

  // PUBLISH
  { name: 'PUBLISH QoS 1 with packet id 0 [MQTT-2.3.1-1]', connected: true, send: pkt(0x32, str('a'), '00 00'), expect: 'closed', reason: 'packet_id_zero' },
  { name: 'PUBLISH QoS 2 with packet id 0 [MQTT-2.3.1-1]', connected: true, send: pkt(0x34, str('a'), '00 00', '68 69'), expect: 'closed', reason: 'packet_id_zero' },
  { name: 'PUBLISH to "+" [MQTT-3.3.2-2]', connected: true, send: pkt(0x30, str('+')), expect: 'closed', reason: 'publish_wildcard' },
  { name: 'PUBLISH to "a/#" [MQTT-3.3.2-2]', connected: true, send: pkt(0x32, str('a/#'), '00 01'), expect: 'closed', reason: 'publish_wildcard' },
  { name: 'PUBLISH with a topic that is not UTF-8 [MQTT-1.5.3-1]', connected: true, send: pkt(0x32, str(hex('61 2f ff')), '00 01'), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'PUBLISH with an overlong "/" in its topic [MQTT-1.5.3-1]', connected: true, send: pkt(0x30, str(hex('61 c0 af 62'))), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'PUBLISH with a code point past U+10FFFF in its topic', connected: true, send: pkt(0x30, str(hex('f4 90 80 80'))), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'PUBLISH with U+0000 in its topic [MQTT-1.5.3-2]', connected: true, send: pkt(0x30, str(hex('61 00'))), expect: 'closed', reason: 'null_char' },
  { name: 'PUBLISH QoS 0 with DUP set [MQTT-3.3.1-2]', connected: true, send: pkt(0x38, str('a'), '68 69'), expect: 'closed', reason: 'publish_dup' },
  { name: 'PUBLISH QoS 0 with DUP and RETAIN set [MQTT-3.3.1-2]', connected: true, send: pkt(0x39, str('a'), '68 69'), expect: 'closed', reason: 'publish_dup' },
  { name: 'PUBACK with packet id 0 [MQTT-2.3.1-1]', connected: true, send: hex('40 02 00 00'), expect: 'closed', reason: 'packet_id_zero' },
  { name: 'PUBREC with packet id 0 [MQTT-2.3.1-1]', connected: true, send: hex('50 02 00 00'), expect: 'closed', reason: 'packet_id_zero' },
  { name: 'PUBREL with packet id 0 [MQTT-2.3.1-1]', connected: true, send: hex('62 02 00 00'), expect: 'closed', reason: 'packet_id_zero' },
  { name: 'PUBCOMP with packet id 0 [MQTT-2.3.1-1]', connected: true, send: hex('70 02 00 00'), expect: 'closed', reason: 'packet_id_zero' },
  { name: 'PUBLISH with an empty topic [MQTT-4.7.3-1]', connected: true, send: pkt(0x30, str(''), '68 69'), expect: 'closed', reason: 'empty_topic' },
  { name: 'PUBLISH QoS 1 with no room for its packet id', connected: true, send: hex('32 03 00 01 61'), expect: 'closed', reason: 'malformed' },
  { name: 'PUBLISH whose topic runs past the packet', connected: true, send: hex('30 03 00 05 61'), expect: 'closed', reason: 'malformed' },

  // SUBSCRIBE and UNSUBSCRIBE
  { name: 'SUBSCRIBE with packet id 0 [MQTT-2.3.1-1]', connected: true, send: pkt(0x82, '00 00', str('a'), '00'), expect: 'closed', reason: 'packet_id_zero' },
  { name: 'SUBSCRIBE with no topic filter [MQTT-3.8.3-3]', connected: true, send: hex('82 02 00 01'), expect: 'closed', reason: 'no_topic_filters' },
  { name: 'SUBSCRIBE requesting QoS 3 [MQTT-3-8.3-4]', connected: true, send: pkt(0x82, '00 01', str('a'), '03'), expect: 'closed', reason: 'subscribe_options' },
  { name: 'SUBSCRIBE with reserved option bits set [MQTT-3-8.3-4]', connected: true, send: pkt(0x82, '00 01', str('a'), '04'), expect: 'closed', reason: 'subscribe_options' },
  { name: 'SUBSCRIBE with a filter that is not UTF-8', connected: true, send: pkt(0x82, '00 01', str('a'), '00', str(hex('62 ff')), '00'), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'SUBSCRIBE with U+0000 in a filter', connected: true, send: pkt(0x82, '00 01', str(hex('61 00')), '00'), expect: 'closed', reason: 'null_char' },
  { name: 'SUBSCRIBE to "a/#/b" [MQTT-4.7.1-2]', connected: true, send: pkt(0x82, '00 01', str('a/#/b'), '00'), expect: 'closed', reason: 'invalid_filter' },
  { name: 'SUBSCRIBE to "a+" (aedes 1.2 accepts it) [MQTT-4.7.1-3]', connected: true, send: pkt(0x82, '00 01', str('a+'), '00'), expect: 'closed', reason: 'invalid_filter' },
  { name: 'SUBSCRIBE to "a#" (aedes 1.2 accepts it) [MQTT-4.7.1-2]', connected: true, send: pkt(0x82, '00 01', str('a#'), '00'), expect: 'closed', reason: 'invalid_filter' },
  { name: 'SUBSCRIBE to an empty filter [MQTT-4.7.3-1]', connected: true, send: pkt(0x82, '00 01', str(''), '00'), expect: 'closed', reason: 'empty_topic' },
  { name: 'SUBSCRIBE missing the options byte of its filter', connected: true, send: pkt(0x82, '00 01', str('a')), expect: 'closed', reason: 'malformed' },
  { name: 'SUBSCRIBE with a Remaining Length of 1', connected: true, send: hex('82 01 00'), expect: 'closed', reason: 'malformed' },
  { name: 'UNSUBSCRIBE with packet id 0 [MQTT-2.3.1-1]', connected: true, send: pkt(0xa2, '00 00', str('a')), expect: 'closed', reason: 'packet_id_zero' },
  { name: 'UNSUBSCRIBE with no topic filter [MQTT-3.10.3-2]', connected: true, send: hex('a2 02 00 01'), expect: 'closed', reason: 'no_topic_filters' },
  { name: 'UNSUBSCRIBE with a filter that is not UTF-8', connected: true, send: pkt(0xa2, '00 01', str(hex('e2 82'))), expect: 'closed', reason: 'invalid_utf8' },
  { name: 'UNSUBSCRIBE with an empty filter', connected: true, send: pkt(0xa2, '00 01', str('')), expect: 'closed', reason: 'empty_topic' },

  // Valid edge cases: the connection stays open and is answered
  { name: 'a PUBLISH QoS 0 with a 0-byte payload', connected: true, send: pkt(0x30, str('edge/a')), expect: 'open', replies: [] },
  { name: 'a PUBLISH QoS 1 with a 0-byte payload', connected: true, send: pkt(0x32, str('edge/a'), '00 07'), expect: 'open', replies: ['40 02 00 07'] },
  { name: 'a topic with two-byte UTF-8 (é)', connected: true, send: pkt(0x32, str('edge/é'), '00 08', '68 69'), expect: 'open', replies: ['40 02 00 08'] },
  { name: 'a topic with four-byte UTF-8 (😀)', connected: true, send: pkt(0x32, str('edge/😀'), '00 09'), expect: 'open', replies: ['40 02 00 09'] },
  { name: 'a topic with U+00A0 (after the C1 controls)', connected: true, send: pkt(0x32, str('edge/\u00a0'), '00 0c'), expect: 'open', replies: ['40 02 00 0c'] },
  { name: 'a topic with a real U+FFFD', connected: true, send: pkt(0x32, str('edge/\ufffd'), '00 0a'), expect: 'open', replies: ['40 02 00 0a'] },
  { name: 'a PUBLISH of exactly maxPacketSize', connected: true, send: bigTopicPublish(MAX_PACKET_SIZE), expect: 'open', replies: ['40 02 00 2a'] },
  { name: 'a PUBLISH QoS 1 split byte by byte across writes', connected: true, send: [...pkt(0x32, str('edge/split'), '00 0b', '68 69')].map((b) => Buffer.from([b])), expect: 'open', replies: ['40 02 00 0b'] },
  { name: 'a CONNECT split byte by byte across writes', send: [...connect('c2', str('split'), str('user'), str('pass'))].map((b) => Buffer.from([b])), expect: 'open', replies: ['20 02 00 00'] },
  {
    name: 'several packets in one write',
    connected: true,
    send: Buffer.concat([
      pkt(0x82, '00 0c', str('edge/s/+'), '01', str('edge/#'), '00'),
      pkt(0x30, str('nobody/listens'), '68 69'),
      pkt(0x34, str('nobody/listens'), '00 0d'),
      hex('62 02 00 0d'),
      pkt(0xa2, '00 0e', str('edge/s/+'), str('edge/#'))
    ]),
    expect: 'open',
    replies: ['90 04 00 0c 01 00', '50 02 00 0d', '70 02 00 0d', 'b0 02 00 0e']
  },
  { name: 'SUBSCRIBE to well-placed wildcards', connected: true, send: pkt(0x82, '00 0f', str('+'), '00', str('#'), '00', str('a/+/b'), '00', str('+/+'), '00', str('/a/#'), '00'), expect: 'open', replies: ['90 07 00 0f 00 00 00 00 00'] },
  { name: 'a PUBREL for an unknown packet id', connected: true, send: hex('62 02 00 10'), expect: 'open', replies: ['70 02 00 10'] },
  { name: 'an empty client id with Clean Session 1 [MQTT-3.1.3-6]', send: connect('02', str('')), expect: 'open', replies: ['20 02 00 00'] },
  { name: 'a client id of exactly the limit', send: connect('02', str(longId)), expect: 'open', replies: ['20 02 00 00'] },
  { name: 'a CONNECT with will, user name and password', send: connect('ee', str('full'), str('will/t'), str('bye'), str('user'), str('pass')), expect: 'open', replies: ['20 02 00 00'] },
  { name: 'CONNECT "MQIsdp" level 3 (MQTT 3.1)', send: pkt(0x10, str('MQIsdp'), '03 02 00 3c', str('v31')), expect: 'open', replies: ['20 02 00 00'] },
  { name: 'CONNECT "MQIsdp" level 3 with a 23-character client id, will, user name and password', send: pkt(0x10, str('MQIsdp'), '03 ee 00 3c', str('x'.repeat(23)), str('will/t'), str('bye'), str('user'), str('pass')), expect: 'open', replies: ['20 02 00 00'] },
  { name: 'CONNECT with the bridge bit on level 4 (0x84)', send: pkt(0x10, str('MQTT'), '84 02 00 3c', str('bridge')), expect: 'open', replies: ['20 02 00 00'] }
]

// ---- harness -----------------------------------------------------------------
class RawClient {
  readonly socket: net.Socket
  data = Buffer.alloc(0)
  isClosed = false
  readonly closed: Promise<void>
  #waiters: Array<() => void> = []

  constructor (port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
    this.socket.on('error', () => {}) // a reset is one way for the server to close
    this.socket.on('data', (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk])
      this.#wake()
    })
    this.closed = new Promise((resolve) => this.socket.once('close', () => {
      this.isClosed = true
      this.#wake()
      resolve()
    }))
  }

  #wake (): void {
    for (const waiter of this.#waiters.splice(0)) waiter()
  }

  /** Resolves when `done()` holds; rejects on close first or after LIMIT. */
  async until (done: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + LIMIT
    while (!done()) {
      if (this.isClosed) throw new Error(`closed while waiting for ${what}`)
      if (Date.now() > deadline) throw new Error(`no ${what} within ${LIMIT} ms`)
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve)
        setTimeout(resolve, 100)
      })
    }
  }

  async write (chunk: Buffer): Promise<void> {
    await new Promise<void>((resolve) => this.socket.write(chunk, () => resolve()))
  }
}

/** Splits what the server sent into packets, as hex strings. */
function packetsOf (data: Buffer): string[] {
  const packets: string[] = []
  let i = 0
  while (i < data.length) {
    let length = 0
    let multiplier = 1
    let j = i + 1
    for (;;) {
      const b = data[j++]!
      length += (b & 0x7f) * multiplier
      multiplier *= 128
      if ((b & 0x80) === 0) break
    }
    packets.push(data.subarray(i, j + length).toString('hex'))
    i = j + length
  }
  return packets
}

async function withLimit<T> (promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${LIMIT} ms`)), LIMIT)
  })
  try {
    return await Promise.race([promise, limit])
  } finally {
    clearTimeout(timer)
  }
}

async function counter (metric: Metrics['protocolErrors'] | Metrics['limitHits']): Promise<Map<string, number>> {
  const values = new Map<string, number>()
  for (const { value, labels } of (await metric.get()).values) {
    const { reason, limit } = labels as { reason?: string, limit?: string }
    values.set(String(reason ?? limit), value)
  }
  return values
}
const total = (values: Map<string, number>): number => [...values.values()].reduce((a, b) => a + b, 0)

// ---- the run -----------------------------------------------------------------
t.test('malformed packets close only their connection; valid edge cases are served', async (t) => {
  const metrics = new Metrics()
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug' }, new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    }
  }))
  const aedes = await Aedes.createBroker({ maxClientsIdLength: MAX_CLIENT_ID_LENGTH })
  // maxClientIdLength left out on purpose: it must follow the broker's option.
  const handle = guardedHandle(aedes, { maxPacketSize: MAX_PACKET_SIZE, metrics, logger })
  const server = net.createServer((socket) => handle(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port

  const observer = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId: 'observer', reconnectPeriod: 0 })
  let observerDrops = 0
  observer.on('close', () => { observerDrops++ })
  await observer.subscribeAsync('probe/#', { qos: 1 })

  t.teardown(async () => {
    await observer.endAsync(true)
    server.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })

  let n = 0
  for (const row of ROWS) {
    const id = ++n
    await t.test(row.name, async (t) => {
      const errorsBefore = await counter(metrics.protocolErrors)
      const limitsBefore = await counter(metrics.limitHits)
      const linesBefore = lines.length
      const raw = new RawClient(port)
      t.teardown(() => { raw.socket.destroy() })
      await withLimit(once(raw.socket, 'connect'), 'TCP connection')

      if (row.connected === true) {
        await raw.write(connect('02', str(`raw-${id}`)))
        await raw.until(() => raw.data.length >= 4, 'CONNACK')
        t.equal(raw.data.subarray(0, 4).toString('hex'), '20020000', 'the valid CONNECT is accepted')
        raw.data = raw.data.subarray(4)
      }
      const chunks = Array.isArray(row.send) ? row.send : [row.send]
      for (const chunk of chunks) {
        await raw.write(chunk)
        // Pacing only, so that the writes reach the server as separate reads.
        if (chunks.length > 1) await new Promise((resolve) => setTimeout(resolve, 2))
      }

      if (row.expect === 'open') {
        await raw.write(hex('c0 00'))
        const expected = [...(row.replies ?? []).map((r) => bytesOf(r).toString('hex')), 'd000'].sort()
        await raw.until(() => packetsOf(raw.data).length >= expected.length, 'replies')
        t.same(packetsOf(raw.data).sort(), expected, 'answered as MQTT 3.1.1 says')
        t.notOk(raw.isClosed, 'still open')
        t.equal(total(await counter(metrics.protocolErrors)), total(errorsBefore), 'no protocol error counted')
        await raw.write(hex('e0 00'))
      } else {
        await withLimit(raw.closed, 'close by the server')
        const connack = row.expect === 'closed' ? '' : `2002000${row.expect.slice(-1)}`
        t.equal(raw.data.toString('hex'), connack, connack === '' ? 'nothing sent back before closing' : `CONNACK ${row.expect.slice(-4)} before closing`)

        const errorsAfter = await counter(metrics.protocolErrors)
        const limitsAfter = await counter(metrics.limitHits)
        if (row.reason !== undefined) {
          t.equal((errorsAfter.get(row.reason) ?? 0) - (errorsBefore.get(row.reason) ?? 0), 1, `protocolErrors{reason="${row.reason}"} + 1`)
        }
        if (row.limit !== undefined) {
          t.equal((limitsAfter.get(row.limit) ?? 0) - (limitsBefore.get(row.limit) ?? 0), 1, `limitHits{limit="${row.limit}"} + 1`)
        }
        t.equal(total(errorsAfter) + total(limitsAfter) - total(errorsBefore) - total(limitsBefore), 1, 'counted once')
        const line = lines.slice(linesBefore).find((l) => l.level === 40)
        t.match(line, { address: '127.0.0.1', ...(row.reason !== undefined ? { reason: row.reason } : { limit: row.limit }) }, 'a warning names the reason and the client address')
      }

      // The broker keeps serving everyone else.
      const topic = `probe/${id}`
      const received = new Promise<void>((resolve) => {
        const onMessage = (got: string): void => {
          if (got !== topic) return
          observer.off('message', onMessage)
          resolve()
        }
        observer.on('message', onMessage)
      })
      await withLimit(observer.publishAsync(topic, 'still here', { qos: 1 }), 'PUBACK for the observer')
      await withLimit(received, 'the observer\'s own message')
    })
  }
  t.equal(observerDrops, 0, 'the observer was never disconnected')
})

t.test('whole packets sent before a malformed one in the same write are still handled', async (t) => {
  const aedes = await Aedes.createBroker()
  const handle = guardedHandle(aedes, { maxPacketSize: MAX_PACKET_SIZE })
  const server = net.createServer((socket) => handle(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  const observer = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId: 'observer', reconnectPeriod: 0 })
  t.teardown(async () => {
    await observer.endAsync(true)
    server.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })
  await observer.subscribeAsync('prefix/#', { qos: 0 })
  const received = new Promise<string>((resolve) => observer.once('message', (topic) => resolve(topic)))

  const raw = new RawClient(port)
  t.teardown(() => { raw.socket.destroy() })
  await withLimit(once(raw.socket, 'connect'), 'TCP connection')
  await raw.write(connect('02', str('prefix')))
  await raw.until(() => raw.data.length >= 4, 'CONNACK')
  await raw.write(Buffer.concat([pkt(0x30, str('prefix/ok'), '68 69'), hex('c0 01 00')]))
  await withLimit(raw.closed, 'close by the server')
  t.equal(await withLimit(received, 'the PUBLISH before the malformed packet'), 'prefix/ok')
})

t.test('with allowControlCharacters, control characters in client ids and topics are served', async (t) => {
  const aedes = await Aedes.createBroker()
  const handle = guardedHandle(aedes, { maxPacketSize: MAX_PACKET_SIZE, allowControlCharacters: true })
  const server = net.createServer((socket) => handle(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  t.teardown(async () => {
    server.close()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })
  const raw = new RawClient(port)
  t.teardown(() => { raw.socket.destroy() })
  await withLimit(once(raw.socket, 'connect'), 'TCP connection')
  await raw.write(connect('02', str('a\u0001b')))
  await raw.until(() => raw.data.length >= 4, 'CONNACK')
  t.equal(raw.data.subarray(0, 4).toString('hex'), '20020000')
  await raw.write(pkt(0x32, str('a/\u0085\t'), '00 05'))
  await raw.until(() => raw.data.length >= 8, 'PUBACK')
  t.equal(raw.data.subarray(4, 8).toString('hex'), '40020005')
})
