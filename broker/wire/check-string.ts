import { isUtf8 } from 'node:buffer'
import { rejections, type Rejection } from './rejections.js'

/**
 * Checks the bytes of one MQTT UTF-8 string (topic name, topic filter, client
 * id, user name) in place, without decoding it. mqtt-packet decodes with
 * `toString('utf8')`, which turns bad bytes into U+FFFD silently, so this is
 * the only place the broker can still tell them apart from a real U+FFFD.
 */
export function checkString (buf: Buffer, start: number, end: number): Rejection | null {
  let ascii = true
  for (let i = start; i < end; i++) {
    const b = buf[i]!
    // A zero byte only ever encodes U+0000 in UTF-8: no multi-byte sequence contains one.
    if (b === 0) return rejections.nullChar // [MQTT-1.5.3-2]
    if (b >= 0x80) ascii = false
  }
  // Topics are almost always ASCII; only the rest pay for full validation, which
  // (simdutf, in Node) refuses overlong forms, surrogates and code points past U+10FFFF.
  if (!ascii && !isUtf8(buf.subarray(start, end))) return rejections.invalidUtf8 // [MQTT-1.5.3-1]
  return null
}
