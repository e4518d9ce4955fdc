// Latency samples and message bookkeeping shared by the load scenarios.

/** Nanoseconds on CLOCK_MONOTONIC, which every process on the machine shares. */
export const now = () => process.hrtime.bigint()

/** Collects latencies in microseconds into a growable Float64Array (capped). */
export class LatencyRecorder {
  constructor (cap = 4_000_000) {
    this.cap = cap
    this.values = new Float64Array(1024)
    this.length = 0
  }

  /** @param {number} micros */
  add (micros) {
    if (this.length >= this.cap) return
    if (this.length === this.values.length) {
      const grown = new Float64Array(Math.min(this.cap, this.values.length * 2))
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.length++] = micros
  }

  /** p50/p99/p99.9/max in milliseconds, or nulls without samples. */
  summary () {
    const sorted = this.values.slice(0, this.length).sort()
    /** @param {number} q */
    const at = (q) => this.length === 0 ? null : round(sorted[Math.min(this.length - 1, Math.floor(q * this.length))] / 1000)
    return { samples: this.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: this.length === 0 ? null : round(sorted[this.length - 1] / 1000) }
  }
}

/** Remembers which (source, seq) pairs arrived, to count unique messages and duplicates. */
export class SeenSet {
  constructor () {
    /** @type {Map<number, Uint8Array>} */
    this.bits = new Map()
    this.unique = 0
    this.duplicates = 0
  }

  /** @param {number} source @param {number} seq @returns {boolean} whether it is new */
  mark (source, seq) {
    let bits = this.bits.get(source)
    const byte = seq >> 3
    if (bits === undefined || byte >= bits.length) {
      const grown = new Uint8Array(Math.max(1024, (byte + 1) * 2))
      if (bits !== undefined) grown.set(bits)
      bits = grown
      this.bits.set(source, bits)
    }
    const mask = 1 << (seq & 7)
    if ((bits[byte] & mask) !== 0) {
      this.duplicates++
      return false
    }
    bits[byte] |= mask
    this.unique++
    return true
  }
}

/**
 * A binary payload of `size` bytes: send time (ns, 8 bytes), source (4), seq (4), then padding.
 * @param {number} size @param {number} source @param {number} seq
 */
export function stampPayload (size, source, seq) {
  const buf = Buffer.alloc(Math.max(16, size))
  buf.writeBigUInt64BE(now(), 0)
  buf.writeUInt32BE(source, 8)
  buf.writeUInt32BE(seq, 12)
  return buf
}

/** @param {Buffer} payload @returns {{ sent: bigint, source: number, seq: number }} */
export function readStamp (payload) {
  return { sent: payload.readBigUInt64BE(0), source: payload.readUInt32BE(8), seq: payload.readUInt32BE(12) }
}

/** @param {number} x */
export function round (x) {
  return Math.round(x * 1000) / 1000
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Run `fn` over `items` with at most `limit` at a time.
 * @template T @param {T[]} items @param {number} limit @param {(item: T, index: number) => Promise<void>} fn
 */
export async function pool (items, limit, fn) {
  let next = 0
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      await fn(items[i], i)
    }
  })
  await Promise.all(runners)
}
