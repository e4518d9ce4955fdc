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
 * empty again). Returns false, changing nothing, when the client lacks the
 * internals above.
 *
 * The retained messages sent on SUBSCRIBE keep waiting for the socket, as
 * before: they come from that client's own stream, not the emitter.
 *
 * Dropped copies are never written, but the drain timeout is still armed by
 * the write that found the socket full, so a client that stays frozen is cut
 * at `drainTimeout` as before, QoS 0 or not.
 */
export function boundSends (client: Client, maxBuffered: number, onOverLimit: () => void): boolean {
  const internals = client as unknown as Partial<ClientInternals>
  const { conn, deliver0, deliverQoS, waitForDrain } = internals
  if (conn === undefined || typeof deliver0 !== 'function' || typeof deliverQoS !== 'function' || typeof waitForDrain !== 'function' || typeof internals.emit !== 'function') return false
  /** Bytes handed to aedes that may not be in the socket's buffer yet. */
  let handed = 0
  let over = false
  let closing = false
  /** Emitter callbacks of copies handed over and not yet written (created on first use). */
  let waiting: Set<() => void> | undefined

  const reset = (): void => { over = false }
  const release = (): void => {
    if (waiting === undefined || waiting.size === 0) return
    const all = [...waiting]
    waiting.clear()
    for (const written of all) setImmediate(written)
  }

  const hand = (deliver: Deliver, packet: Copy, cb: () => void, qos: number): void => {
    // The retained messages of a new subscription come through a stream of its own
    // (aedes handlers/subscribe.js marks them brokerId null), not the emitter: it holds
    // nothing shared and must keep the socket's pace rather than race past the bound.
    if (packet.brokerId === null) return deliver(packet, cb)
    if (conn.writableLength + handed > maxBuffered) {
      if (!over) {
        over = true
        conn.once('drain', reset)
        onOverLimit()
      }
      if (qos > 0 && !closing) {
        closing = true
        client.emit('error', new Error(`send buffer over ${maxBuffered} bytes: the client does not read`))
      }
      setImmediate(cb)
      return
    }
    const size = sizeOf(packet)
    handed += size
    let done = false
    const written = (): void => {
      if (done) return
      done = true
      handed -= size
      waiting?.delete(written)
      cb()
    }
    waiting ??= new Set()
    waiting.add(written)
    deliver(packet, written)
  }

  // A QoS 0 subscription gets the publish's own QoS in the packet: the copy is QoS 0.
  internals.deliver0 = function boundedDeliver0 (packet, cb) { hand(deliver0, packet, cb, 0) }
  internals.deliverQoS = function boundedDeliverQoS (packet, cb) {
    // aedes hands a QoS 0 packet on to client.deliver0, which is bounded above
    if ((packet.qos ?? 0) === 0) return deliverQoS(packet, cb)
    hand(deliverQoS, packet, cb, packet.qos ?? 0)
  }
  internals.waitForDrain = function boundedWaitForDrain (callback) {
    waitForDrain.call(internals, callback)
    // the socket is full: whatever the emitter still waits for would wait for the client
    release()
  }
  return true
}

/** About what a copy adds to the send buffer: the payload, the topic and a header. */
function sizeOf (packet: Copy): number {
  const payload = packet.payload
  const body = payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  return body + (packet.topic?.length ?? 0) + 8
}
