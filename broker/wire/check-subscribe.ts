import { checkString } from './check-string.js'
import { rejections, type Rejection } from './rejections.js'

/**
 * Checks the body of a SUBSCRIBE (`withOptions`) or UNSUBSCRIBE for what
 * neither mqtt-packet nor aedes refuses: packet id 0, no topic filter at all,
 * filters that are not valid UTF-8, and the misplaced wildcards that aedes
 * 1.2.0's validateTopic lets through (it tests `i > 1` where it means `i > 0`,
 * so "a+", "+a" and "a#" pass). The caller guarantees at least the two bytes
 * of the packet id.
 *
 * Left to the others on purpose: the options byte's reserved bits and QoS 3
 * [MQTT-3-8.3-4] and filters running past the packet (mqtt-packet closes),
 * empty filters [MQTT-4.7.3-1] (aedes closes). When the layout breaks, this
 * returns null and lets the parser refuse it, so the reason counted is the
 * parser's.
 */
export function checkSubscribe (buf: Buffer, start: number, end: number, withOptions: boolean, refuseControls = false): Rejection | null {
  if (buf[start] === 0 && buf[start + 1] === 0) return rejections.packetIdZero // [MQTT-2.3.1-1]
  let p = start + 2
  if (p === end) {
    return withOptions
      ? rejections.noTopicFilters // [MQTT-3.8.3-3]
      : rejections.noUnsubscribeFilters // [MQTT-3.10.3-2]
  }
  while (p < end) {
    if (end - p < 2) return null
    const length = (buf[p]! << 8) | buf[p + 1]!
    p += 2
    if (p + length > end) return null
    const bad = checkString(buf, p, p + length, refuseControls) // [MQTT-1.5.3-1] [MQTT-1.5.3-2]
    if (bad !== null) return bad
    if (!wildcardsInPlace(buf, p, p + length)) return rejections.invalidFilter
    p += length
    if (withOptions) p++
  }
  return null
}

/** '#' only last and alone in its level [MQTT-4.7.1-2]; '+' alone in its level [MQTT-4.7.1-3]. */
function wildcardsInPlace (buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i]
    if (b !== 0x23 && b !== 0x2b) continue // neither byte occurs inside a multi-byte UTF-8 sequence
    if (i > start && buf[i - 1] !== 0x2f) return false
    if (b === 0x23 ? i !== end - 1 : i < end - 1 && buf[i + 1] !== 0x2f) return false
  }
  return true
}
