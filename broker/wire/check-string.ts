import { isUtf8 } from 'node:buffer'
import { rejections, type Rejection } from './rejections.js'

/**
 * Checks the bytes of one MQTT UTF-8 string (topic name, topic filter, client
 * id, user name) in place, without decoding it. mqtt-packet decodes with
 * `toString('utf8')`, which turns bad bytes into U+FFFD silently, so this is
 * the only place the broker can still tell them apart from a real U+FFFD.
 *
 * With `refuseControls`, the control characters U+0001-U+001F and
 * U+007F-U+009F are refused too: §1.5.3 says they SHOULD NOT be sent and a
 * receiver MAY close, and mosquitto does (a topic with a newline or an
 * escape sequence ends up in logs and ACL files).
 */
export function checkString (buf: Buffer, start: number, end: number, refuseControls = false): Rejection | null {
  let ascii = true
  for (let i = start; i < end; i++) {
    const b = buf[i]!
    // A zero byte only ever encodes U+0000 in UTF-8: no multi-byte sequence contains one.
    if (b === 0) return rejections.nullChar // [MQTT-1.5.3-2]
    if (b >= 0x80) ascii = false
    if (refuseControls) {
      // C0 and DEL are single bytes; C1 (U+0080-U+009F) is always 0xC2 0x80-0x9F.
      if (b < 0x20 || b === 0x7f) return rejections.controlChar
      if (b === 0xc2 && i + 1 < end && buf[i + 1]! >= 0x80 && buf[i + 1]! <= 0x9f) return rejections.controlChar
    }
  }
  // Topics are almost always ASCII; only the rest pay for full validation, which
  // (simdutf, in Node) refuses overlong forms, surrogates and code points past U+10FFFF.
  if (!ascii && !isUtf8(buf.subarray(start, end))) return rejections.invalidUtf8 // [MQTT-1.5.3-1]
  return null
}
