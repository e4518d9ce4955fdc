import mqttPacket from 'mqtt-packet'
import { rejections, type Rejection } from './rejections.js'

// What a connection owes the server for each packet id it was sent.
const AWAIT_PUBACK = 1 // a QoS 1 PUBLISH
const AWAIT_PUBREC = 2 // a QoS 2 PUBLISH
const AWAIT_PUBCOMP = 3 // a PUBREL

// First bytes of the acks a client sends (§3.4-§3.7).
const PUBACK = 0x40
const PUBREC = 0x50
const PUBCOMP = 0x70

/** Per connection (the stream aedes writes to): packet id → what it owes; null until its first QoS delivery (an idle one holds no map). */
const owed = new WeakMap<object, Map<number, number> | null>()
let installed = false

interface Outgoing { cmd?: string, qos?: number, messageId?: number }

/**
 * aedes 1.2 writes every packet with mqtt-packet's `writeToStream(packet,
 * client.conn)` (lib/write.js), looked up on the module at each call; this
 * wraps it, once per process, to note the QoS deliveries and PUBRELs sent on
 * the connections Hail guards (a WeakMap miss for any other stream, such as
 * an mqtt.js client's in the same process).
 * test/broker/wire/ack-order.test.ts fails if aedes stops writing this way.
 */
function install (): void {
  if (installed) return
  installed = true
  const packets = mqttPacket as unknown as { writeToStream: (packet: Outgoing, stream: object, opts?: unknown) => boolean }
  const write = packets.writeToStream
  packets.writeToStream = function observedWrite (packet: Outgoing, stream: object, opts?: unknown): boolean {
    const ids = owed.get(stream)
    if (ids !== undefined && typeof packet.messageId === 'number') {
      const state = packet.cmd === 'publish' && (packet.qos === 1 || packet.qos === 2)
        ? (packet.qos === 1 ? AWAIT_PUBACK : AWAIT_PUBREC)
        : packet.cmd === 'pubrel' ? AWAIT_PUBCOMP : undefined
      if (state !== undefined) {
        if (ids === null) owed.set(stream, new Map([[packet.messageId, state]]))
        else ids.set(packet.messageId, state)
      }
    }
    return write.call(this, packet, stream, opts)
  }
}

/**
 * The acknowledgement rules of a connection's QoS deliveries (MQTT 3.1.1
 * §4.3): a QoS 1 PUBLISH is answered with PUBACK, a QoS 2 one with PUBREC,
 * a PUBREL with PUBCOMP. aedes' handlers take any of them for any id (a
 * PUBREC for a QoS 1 delivery gets a PUBREL, a PUBCOMP or a PUBACK ends a
 * QoS 2 delivery whatever its stage); mosquitto closes the connection on all
 * of these, and so does Hail. An ack for an id the server has no delivery
 * under is left to aedes, as the spec lets a client repeat acks.
 */
export function ackOrder (conn: object): (first: number, id: number) => Rejection | null {
  install()
  owed.set(conn, null)
  return (first, id) => {
    const ids = owed.get(conn)
    const state = ids?.get(id)
    if (ids == null || state === undefined) return null
    switch (first) {
      case PUBACK:
        if (state !== AWAIT_PUBACK) return rejections.wrongAck
        ids.delete(id)
        return null
      case PUBREC:
        // Repeated after the PUBREL: the client may not have seen it yet [MQTT-4.3.3-2 stays with the sender].
        return state === AWAIT_PUBACK ? rejections.wrongAck : null
      case PUBCOMP:
        if (state !== AWAIT_PUBCOMP) return rejections.wrongAck
        ids.delete(id)
        return null
      default:
        return null
    }
  }
}
