import { checkString } from './check-string.js'
import { rejections, type Rejection } from './rejections.js'

// Connect Flags, MQTT 3.1.1 §3.1.2.3
const RESERVED = 0x01
const CLEAN_SESSION = 0x02
const WILL = 0x04
const WILL_QOS = 0x18
const WILL_RETAIN = 0x20
const PASSWORD = 0x40
const USERNAME = 0x80

/**
 * Checks the body (variable header and payload) of a connection's first
 * packet, a CONNECT, before mqtt-packet parses it. It must run first for the
 * protocol level: mqtt-packet closes on an unknown level without the
 * CONNACK 0x01 the spec asks for, and accepts "MQTT" level 3 or "MQIsdp"
 * level 4, which aedes then serves.
 *
 * What mqtt-packet already refuses (an unknown protocol name, the reserved
 * flag, will QoS or retain without the will flag, fields running past the
 * packet) is returned as null, "no objection", so the parser refuses it and
 * the reason counted is the parser's.
 */
export function checkConnect (buf: Buffer, start: number, end: number, maxClientIdLength: number): Rejection | null {
  let p = start
  if (end - p < 2) return null
  const nameLength = (buf[p]! << 8) | buf[p + 1]!
  p += 2
  if (p + nameLength > end) return null
  const mqtt = nameLength === 4 && buf.toString('latin1', p, p + 4) === 'MQTT'
  const mqisdp = nameLength === 6 && buf.toString('latin1', p, p + 6) === 'MQIsdp'
  if (!mqtt && !mqisdp) return null // [MQTT-3.1.2-1]: mqtt-packet closes
  p += nameLength

  if (p >= end) return null
  // The top bit is the bridge flag of Mosquitto bridges; mqtt-packet and aedes
  // accept it (aedes adjusts bridged subscriptions), so it is not the level.
  const level = buf[p++]! & 0x7f
  if (mqtt ? level !== 4 : level !== 3) return rejections.protocolLevel // [MQTT-3.1.2-2]

  if (p >= end) return null
  const flags = buf[p++]!
  if ((flags & RESERVED) !== 0) return null // [MQTT-3.1.2-3]: mqtt-packet closes
  const will = (flags & WILL) !== 0
  const willQos = (flags & WILL_QOS) >> 3
  if (!will && (willQos !== 0 || (flags & WILL_RETAIN) !== 0)) return null // [MQTT-3.1.2-11/-13/-15]: mqtt-packet closes
  if (will && willQos === 3) return rejections.willQos // [MQTT-3.1.2-14]
  if ((flags & PASSWORD) !== 0 && (flags & USERNAME) === 0) return rejections.passwordFlag // [MQTT-3.1.2-22]

  p += 2 // Keep Alive
  if (end - p < 2) return null
  const idLength = (buf[p]! << 8) | buf[p + 1]!
  p += 2
  if (p + idLength > end) return null
  const badId = checkString(buf, p, p + idLength) // [MQTT-3.1.3-4]
  if (badId !== null) return badId
  // aedes would assign an id and keep the session, which a client that cannot
  // name its session could never resume [MQTT-3.1.3-8].
  if (idLength === 0 && (flags & CLEAN_SESSION) === 0) return rejections.clientId
  // The limit counts characters, as aedes' own maxClientsIdLength does (only for
  // 3.1, in aedes); a UTF-8 string has no more characters than bytes, so only a
  // long one is decoded.
  if (idLength > maxClientIdLength && buf.toString('utf8', p, p + idLength).length > maxClientIdLength) {
    return rejections.clientIdTooLong // [MQTT-3.1.3-5] lets a server refuse long ids
  }
  p += idLength

  if (will) {
    if (end - p < 2) return null
    const topicLength = (buf[p]! << 8) | buf[p + 1]!
    p += 2
    if (p + topicLength > end) return null
    const badTopic = checkString(buf, p, p + topicLength) // [MQTT-3.1.3-10]
    if (badTopic !== null) return badTopic
    // The will is published as a PUBLISH would be, so its topic is a topic
    // name: not empty [MQTT-4.7.3-1] and without wildcards [MQTT-3.3.2-2].
    // aedes checks neither for wills.
    if (topicLength === 0 || hasWildcard(buf, p, p + topicLength)) return rejections.willTopic
    p += topicLength
    if (end - p < 2) return null
    p += 2 + ((buf[p]! << 8) | buf[p + 1]!) // Will Message: binary, anything goes
    if (p > end) return null
  }

  if ((flags & USERNAME) !== 0) {
    if (end - p < 2) return null
    const userLength = (buf[p]! << 8) | buf[p + 1]!
    p += 2
    if (p + userLength > end) return null
    const badUser = checkString(buf, p, p + userLength) // [MQTT-3.1.3-11]
    if (badUser !== null) return badUser
    p += userLength
  }

  if ((flags & PASSWORD) !== 0) {
    if (end - p < 2) return null
    p += 2 + ((buf[p]! << 8) | buf[p + 1]!) // Password: binary
  }
  // Fields running past the packet are mqtt-packet's to refuse; bytes left
  // over are fields the flags say are absent (a user name without its flag,
  // say), which mqtt-packet skips and aedes would serve [MQTT-3.1.2-18/-20].
  if (p < end) return rejections.connectLength
  return null
}

function hasWildcard (buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i]
    if (b === 0x23 || b === 0x2b) return true // '#', '+': never part of a multi-byte UTF-8 sequence
  }
  return false
}
