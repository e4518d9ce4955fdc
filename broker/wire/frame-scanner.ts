import { checkConnect } from './check-connect.js'
import { checkString } from './check-string.js'
import { checkSubscribe } from './check-subscribe.js'
import { rejections, type Rejection } from './rejections.js'

export interface FrameScannerOptions {
  /** Largest whole packet (fixed header included) let through, in bytes. */
  maxPacketSize: number
  /** Longest client id accepted in CONNECT, in characters. */
  maxClientIdLength: number
}

/** A refused chunk: `cut` bytes of it, all whole packets before the refused one, may still be parsed. */
export interface Verdict {
  rejection: Rejection
  cut: number
}

// What to do with a packet, chosen by its first byte.
const SKIP = 0 // let it through unread: valid as far as Hail checks, or refused by mqtt-packet or aedes
const CONNECT = 1
const PUBLISH_QOS0 = 2
const PUBLISH_QOS12 = 3
const SUBSCRIBE = 4
const UNSUBSCRIBE = 5
const EMPTY = 6 // PINGREQ, DISCONNECT: Remaining Length 0
const ACK = 7 // PUBACK, PUBREC, PUBREL, PUBCOMP: Remaining Length 2
const SERVER_ONLY = 8 // CONNACK, SUBACK, UNSUBACK, PINGRESP
const PUBLISH_DUP0 = 9 // QoS 0 with DUP set [MQTT-3.3.1-2]

// Only first bytes with the flags the spec requires get a kind: any other
// flags [MQTT-2.2.2-2], QoS 3 [MQTT-3.3.1-4] and the reserved types 0 and 15
// stay SKIP, because mqtt-packet refuses them itself (flags and QoS on the
// first byte, types 0 and 15 once their body, bounded by the size limit, is
// in) and counting its reason is enough.
const FIRST_PACKET = new Uint8Array(256)
FIRST_PACKET[0x10] = CONNECT
// Before a CONNECT aedes refuses whatever comes [MQTT-3.1.0-1]; nothing to read.
const NOT_CONNECTED = new Uint8Array(256)
const CONNECTED = new Uint8Array(256)
for (let b = 0x30; b <= 0x3f; b++) {
  const qos = (b >> 1) & 3
  CONNECTED[b] = qos === 0 ? ((b & 0x08) === 0 ? PUBLISH_QOS0 : PUBLISH_DUP0) : qos === 3 ? SKIP : PUBLISH_QOS12
}
for (const b of [0x40, 0x50, 0x62, 0x70]) CONNECTED[b] = ACK
for (const b of [0xc0, 0xe0]) CONNECTED[b] = EMPTY
// aedes drops these silently (handlers/index.js, default case); refusing them
// here is what gets them counted.
for (const b of [0x20, 0x90, 0xb0, 0xd0]) CONNECTED[b] = SERVER_ONLY
CONNECTED[0x82] = SUBSCRIBE
CONNECTED[0xa2] = UNSUBSCRIBE
// A second CONNECT (0x10) stays SKIP: aedes refuses it [MQTT-3.1.0-2].

// States of the scanner between bytes.
const HEADER = 0
const LENGTH = 1
const TOPIC_LENGTH = 2
const CAPTURE = 3
const BODY = 4
const FAILED = 5

/**
 * A state machine over the bytes a client sends, run before mqtt-packet's
 * parser sees them. It follows packet boundaries from the fixed header alone
 * and reads a body only where a check needs it: the whole CONNECT, the topic
 * and packet id of a PUBLISH (its payload is skipped by count, never
 * touched), the whole of a SUBSCRIBE or UNSUBSCRIBE. Everything else costs a
 * table lookup and a few Remaining Length bytes.
 *
 * The size limit is applied when the Remaining Length is complete, before a
 * byte of the body is buffered anywhere. A field that spans chunks is copied
 * out; one inside a chunk is read in place.
 */
export class FrameScanner {
  readonly #maxPacketSize: number
  readonly #maxClientIdLength: number
  #kinds: Uint8Array = FIRST_PACKET
  #state = HEADER
  #kind = SKIP
  #length = 0 // Remaining Length, as far as decoded
  #lengthBytes = 0
  #multiplier = 1
  #topicLength = 0
  #topicLengthBytes = 0
  #left = 0 // body bytes after the captured part, to skip
  #need = 0 // bytes to capture for a check
  #have = 0
  #captured: Buffer | null = null
  #failed: Rejection | null = null

  constructor (options: FrameScannerOptions) {
    this.#maxPacketSize = options.maxPacketSize
    this.#maxClientIdLength = options.maxClientIdLength
  }

  /** The next chunk of the stream; null while everything conforms. Once refused, every later chunk is refused whole. */
  scan (chunk: Buffer): Verdict | null {
    if (this.#failed !== null) return { rejection: this.#failed, cut: 0 }
    const end = chunk.length
    let packetStart = 0 // in this chunk; 0 when the packet began in an earlier one
    let i = 0
    while (i < end) {
      switch (this.#state) {
        case HEADER: {
          packetStart = i
          const b = chunk[i++]!
          this.#kind = this.#kinds[b]!
          if (this.#kinds === FIRST_PACKET) this.#kinds = b === 0x10 ? CONNECTED : NOT_CONNECTED
          this.#length = 0
          this.#lengthBytes = 0
          this.#multiplier = 1
          this.#state = LENGTH
          break
        }
        case LENGTH: {
          const b = chunk[i++]!
          this.#length += (b & 0x7f) * this.#multiplier
          this.#multiplier *= 128
          this.#lengthBytes++
          if ((b & 0x80) === 0) {
            const bad = this.#startBody()
            if (bad !== null) return this.#fail(bad, packetStart)
          } else if (this.#lengthBytes === 4) {
            return this.#fail(rejections.remainingLength, packetStart) // at most four bytes [MQTT-2.2.3]
          }
          break
        }
        case TOPIC_LENGTH: {
          this.#topicLength = (this.#topicLength << 8) | chunk[i++]!
          if (++this.#topicLengthBytes === 2) {
            const bad = this.#startTopic()
            if (bad !== null) return this.#fail(bad, packetStart)
          }
          break
        }
        case CAPTURE: {
          const need = this.#need
          let bad: Rejection | null
          if (this.#have === 0 && end - i >= need) {
            bad = this.#check(chunk, i, i + need)
            i += need
          } else {
            this.#captured ??= Buffer.allocUnsafe(need)
            const n = Math.min(need - this.#have, end - i)
            chunk.copy(this.#captured, this.#have, i, i + n)
            this.#have += n
            i += n
            if (this.#have < need) break
            bad = this.#check(this.#captured, 0, need)
            this.#captured = null // a big CONNECT or SUBSCRIBE must not pin its copy
            this.#have = 0
          }
          if (bad !== null) return this.#fail(bad, packetStart)
          this.#state = this.#left > 0 ? BODY : HEADER
          break
        }
        case BODY: {
          const n = Math.min(this.#left, end - i)
          i += n
          this.#left -= n
          if (this.#left === 0) this.#state = HEADER
          break
        }
      }
    }
    return null
  }

  /** The Remaining Length is known: check it, then choose how to walk the body. */
  #startBody (): Rejection | null {
    const length = this.#length
    if (1 + this.#lengthBytes + length > this.#maxPacketSize) return rejections.packetTooLarge
    this.#left = length
    this.#state = length > 0 ? BODY : HEADER
    switch (this.#kind) {
      case EMPTY:
        return length === 0 ? null : rejections.remainingLength // §3.12.1, §3.14.1
      case ACK:
        if (length !== 2) return rejections.remainingLength // §3.4.1 to §3.7.1
        this.#capture(2) // the packet id
        return null
      case PUBLISH_DUP0:
        return rejections.publishDup
      case SERVER_ONLY:
        return rejections.serverPacket
      case PUBLISH_QOS0:
      case PUBLISH_QOS12:
        if (length < 2) return rejections.malformedPublish // no room for the topic length
        this.#topicLength = 0
        this.#topicLengthBytes = 0
        this.#state = TOPIC_LENGTH
        return null
      case SUBSCRIBE:
      case UNSUBSCRIBE:
        if (length < 2) return rejections.malformedSubscribe // no room for the packet id
        this.#capture(length)
        return null
      case CONNECT:
        if (length > 0) this.#capture(length)
        return null
      default:
        return null
    }
  }

  /** A PUBLISH's topic length is known: capture the topic and packet id that follow. */
  #startTopic (): Rejection | null {
    const need = this.#topicLength + (this.#kind === PUBLISH_QOS12 ? 2 : 0)
    // mqtt-packet would read a missing packet id from the next packet's bytes.
    if (2 + need > this.#length) return rejections.malformedPublish
    this.#left = this.#length - 2
    if (need === 0) {
      // An empty topic: aedes refuses it [MQTT-4.7.3-1].
      this.#state = this.#left > 0 ? BODY : HEADER
      return null
    }
    this.#capture(need)
    return null
  }

  #capture (need: number): void {
    this.#need = need
    this.#have = 0
    this.#left -= need
    this.#state = CAPTURE
  }

  #check (buf: Buffer, start: number, end: number): Rejection | null {
    switch (this.#kind) {
      case PUBLISH_QOS0:
        return checkString(buf, start, end) // [MQTT-3.3.2-1]
      case PUBLISH_QOS12:
        if (buf[end - 2] === 0 && buf[end - 1] === 0) return rejections.packetIdZero // [MQTT-2.3.1-1]
        return checkString(buf, start, end - 2) // [MQTT-3.3.2-1]
      case SUBSCRIBE:
        return checkSubscribe(buf, start, end, true)
      case UNSUBSCRIBE:
        return checkSubscribe(buf, start, end, false)
      case CONNECT:
        return checkConnect(buf, start, end, this.#maxClientIdLength)
      case ACK:
        // aedes ignores PUBACK and PUBCOMP 0, and answers PUBREC and PUBREL 0 with ids of its own.
        return buf[start] === 0 && buf[start + 1] === 0 ? rejections.packetIdZero : null // [MQTT-2.3.1-1]
      default:
        return null
    }
  }

  #fail (rejection: Rejection, cut: number): Verdict {
    this.#failed = rejection
    this.#state = FAILED
    this.#captured = null
    return { rejection, cut }
  }
}
