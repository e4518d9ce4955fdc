/** Hand-written MQTT bytes for wire tests, built from the spec (MQTT 3.1.1 §1.5, §2.2.3). */

/** Bytes from hex, spaces ignored. */
export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

/** An MQTT string: two length bytes, then the bytes (UTF-8 for a JS string). */
export const str = (s: string | Buffer): Buffer => {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])
}

/** A packet from its first byte and body parts (hex strings or bytes), with the Remaining Length worked out. */
export const pkt = (first: number, ...parts: Array<string | Buffer>): Buffer => {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? hex(p) : p)))
  const length: number[] = []
  let n = body.length
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    length.push(b)
  } while (n > 0)
  return Buffer.concat([Buffer.from([first, ...length]), body])
}
