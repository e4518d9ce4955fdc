import type { Duplex } from 'node:stream'

/**
 * The live connections of one listener, so that close() can end the ones
 * that never sent CONNECT (aedes only knows connected clients).
 */
export class ConnectionSet {
  readonly #conns = new Set<Duplex>()
  /** Bytes of the connections already closed. */
  #closedRead = 0
  #closedWritten = 0

  /** One 'close' listener for every connection of the set (`this` is the connection): no closure per connection. */
  readonly #onClose: (this: Duplex) => void

  constructor () {
    const set = this
    this.#onClose = function closed (this: Duplex) { set.#forget(this) }
  }

  add (conn: Duplex): void {
    this.#conns.add(conn)
    // `on`, not `once`: a stream closes once, and once() would wrap the listener per connection
    conn.on('close', this.#onClose)
  }

  #forget (conn: Duplex): void {
    this.#conns.delete(conn)
    const { read, written } = bytesOf(conn)
    this.#closedRead += read
    this.#closedWritten += written
  }

  /** Bytes received and sent on this listener's connections since it started (hail_bytes_*_total). */
  bytes (): { read: number, written: number } {
    let read = this.#closedRead
    let written = this.#closedWritten
    for (const conn of this.#conns) {
      const b = bytesOf(conn)
      read += b.read
      written += b.written
    }
    return { read, written }
  }

  get size (): number {
    return this.#conns.size
  }

  destroyAll (): void {
    for (const conn of this.#conns) conn.destroy()
    this.#conns.clear()
  }
}

/** A socket's byte counters (net.Socket and tls.TLSSocket have them; other streams count 0). */
function bytesOf (conn: Duplex): { read: number, written: number } {
  const socket = conn as Duplex & { bytesRead?: number, bytesWritten?: number }
  return { read: socket.bytesRead ?? 0, written: socket.bytesWritten ?? 0 }
}
