import type { Writable } from 'node:stream'
import type { Client } from 'aedes'

/** Bytes queued in a connection's send buffer past which it takes nothing more. */
export const MAX_BUFFERED = 4 * 1024 * 1024

type Deliver = (packet: { qos?: number }, cb: () => void) => void
interface ClientInternals { conn: Writable, deliver0: Deliver, deliverQoS: Deliver, emit: (event: 'error', err: Error) => boolean }

/**
 * One client that stops reading must cost only itself (issue 13). aedes 1.2
 * calls a delivery's callback once the packet is written, and when the
 * socket is full, once it drains; the emitter (concurrency 100) waits for
 * every subscriber's callback, so a frozen socket held every publish of
 * every client until the drain timeout.
 *
 * Here a delivery to a connection whose send buffer is already full is
 * handed to aedes without the emitter waiting on it, and the buffer is
 * bounded: past `maxBuffered` bytes QoS 0 copies are dropped and a QoS > 0
 * copy closes the connection (a persistent session keeps it in its durable
 * queue for the next one). `onOverLimit` is told once per connection.
 */
export function boundSends (client: Client, onOverLimit: () => void, maxBuffered = MAX_BUFFERED): void {
  const internals = client as unknown as ClientInternals
  let over = false
  const wrap = (deliver: Deliver): Deliver => function boundedDeliver (packet, cb) {
    const conn = internals.conn
    if (conn.writableLength < conn.writableHighWaterMark) return deliver(packet, cb)
    if (conn.writableLength > maxBuffered) {
      if (!over) {
        over = true
        onOverLimit()
      }
      if ((packet.qos ?? 0) > 0) internals.emit('error', new Error(`send buffer over ${maxBuffered} bytes: the client does not read`))
      setImmediate(cb)
      return
    }
    deliver(packet, noop)
    setImmediate(cb)
  }
  internals.deliver0 = wrap(internals.deliver0)
  internals.deliverQoS = wrap(internals.deliverQoS)
}

function noop (): void {}
