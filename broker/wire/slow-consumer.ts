import type { Writable } from 'node:stream'
import type { Client } from 'aedes'

interface Copy { qos?: number, topic?: string, payload?: Buffer | string, brokerId?: string | null }
type Deliver = (packet: Copy, cb: () => void) => void
/**
 * The parts of an aedes 1.2.0 Client (lib/client.js, lib/write.js) this
 * module relies on: the subscription handler takes `deliver0` or `deliverQoS`
 * from the client when a SUBSCRIBE is handled, and `write` calls
 * `waitForDrain` when the socket's buffer is full (that is what arms the drain
 * timeout). test/broker/wire/slow-consumer.test.ts fails if either changes.
 */
interface ClientInternals {
  conn: Writable
  deliver0: Deliver
  deliverQoS: Deliver
  waitForDrain: (callback: (err: Error | null) => void) => void
  emit: (event: 'error', err: Error) => boolean
}

/**
 * One client that stops reading must cost only itself (issue 13, DESIGN.md:
 * "a slow or frozen client: its own bounded queue, then its disconnection").
 *
 * aedes calls a delivery's callback once the packet is written, and when the
 * socket is full only once it drains; the emitter (mqemitter, concurrency
 * 100, shared by every publish) waits for every subscriber's callback, so one
 * frozen socket held every publish of every client until the drain timeout.
 * Here the emitter waits for a copy only while its socket has room: a copy
 * handed over to a full socket, or one still waiting when the socket fills
 * (aedes' `waitForDrain`), lets the emitter go on at once.
 *
 * The unsent data is bounded by `maxBuffered` bytes (the socket's buffer and
 * the copies handed to aedes but not yet written; aedes writes a turn later,
 * so the copies of one turn can pass it by their own size). Past it a QoS 0
 * copy is dropped and a QoS 1 or 2 copy closes the connection: a persistent
 * session keeps that message in its stored queue for the next connection.
 * `onOverLimit` is told once per episode (until the client reads its socket
 * empty again), with the client (one function may serve every connection). Returns false, changing nothing, when the client lacks the
 * internals above.
 *
 * The retained messages sent on SUBSCRIBE keep waiting for the socket, as
 * before: they come from that client's own stream, not the emitter.
 *
 * Dropped copies are never written, but the drain timeout is still armed by
 * the write that found the socket full, so a client that stays frozen is cut
 * at `drainTimeout` as before, QoS 0 or not.
 */
export function boundSends (client: Client, maxBuffered: number, onOverLimit: (client: Client) => void): boolean {
  const internals = client as unknown as Partial<ClientInternals>
  const { conn, deliver0, deliverQoS, waitForDrain } = internals
  if (conn === undefined || typeof deliver0 !== 'function' || typeof deliverQoS !== 'function' || typeof waitForDrain !== 'function' || typeof internals.emit !== 'function') return false
  // One small object and three thin closures per connection (every idle session pays them).
  const bound = new SendBound(client, conn, maxBuffered, onOverLimit)
  // A QoS 0 subscription gets the publish's own QoS in the packet: the copy is QoS 0.
  internals.deliver0 = function boundedDeliver0 (packet, cb) { bound.hand(deliver0, packet, cb, 0) }
  internals.deliverQoS = function boundedDeliverQoS (packet, cb) {
    const qos = packet.qos ?? 0
    // aedes hands a QoS 0 packet on to client.deliver0, which is bounded above
    if (qos === 0) deliverQoS(packet, cb)
    else bound.hand(deliverQoS, packet, cb, qos)
  }
  internals.waitForDrain = function boundedWaitForDrain (callback) {
    waitForDrain.call(internals, callback)
    // the socket is full: whatever the emitter still waits for would wait for the client
    bound.release()
  }
  return true
}

class SendBound {
  /** Bytes handed to aedes that may not be in the socket's buffer yet. */
  #handed = 0
  #over = false
  #closing = false
  /** Emitter callbacks of copies handed over and not yet written (created on first use). */
  #waiting: Set<() => void> | undefined
  readonly #client: Client
  readonly #conn: Writable
  readonly #max: number
  readonly #onOverLimit: (client: Client) => void

  constructor (client: Client, conn: Writable, max: number, onOverLimit: (client: Client) => void) {
    this.#client = client
    this.#conn = conn
    this.#max = max
    this.#onOverLimit = onOverLimit
  }

  hand (deliver: Deliver, packet: Copy, cb: () => void, qos: number): void {
    // The retained messages of a new subscription come through a stream of its own
    // (aedes handlers/subscribe.js marks them brokerId null), not the emitter: it holds
    // nothing shared and must keep the socket's pace rather than race past the bound.
    if (packet.brokerId === null) return deliver(packet, cb)
    if (this.#conn.writableLength + this.#handed > this.#max) return this.#refuse(cb, qos)
    const size = sizeOf(packet)
    this.#handed += size
    let done = false
    const written = (): void => {
      if (done) return
      done = true
      this.#handed -= size
      this.#waiting?.delete(written)
      cb()
    }
    this.#waiting ??= new Set()
    this.#waiting.add(written)
    deliver(packet, written)
  }

  release (): void {
    const waiting = this.#waiting
    if (waiting === undefined || waiting.size === 0) return
    const all = [...waiting]
    waiting.clear()
    for (const written of all) setImmediate(written)
  }

  #refuse (cb: () => void, qos: number): void {
    if (!this.#over) {
      this.#over = true
      // a new episode once the client has read everything sent to it
      this.#conn.once('drain', () => { this.#over = false })
      this.#onOverLimit(this.#client)
    }
    if (qos > 0 && !this.#closing) {
      this.#closing = true
      this.#client.emit('error', new Error(`send buffer over ${this.#max} bytes: the client does not read`))
    }
    setImmediate(cb)
  }
}

/** About what a copy adds to the send buffer: the payload, the topic and a header. */
function sizeOf (packet: Copy): number {
  const payload = packet.payload
  const body = payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  return body + (packet.topic?.length ?? 0) + 8
}
