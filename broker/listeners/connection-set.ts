import type { Duplex } from 'node:stream'

/**
 * The live connections of one listener, so that close() can end the ones
 * that never sent CONNECT (aedes only knows connected clients).
 */
export class ConnectionSet {
  readonly #conns = new Set<Duplex>()

  add (conn: Duplex): void {
    this.#conns.add(conn)
    conn.once('close', () => this.#conns.delete(conn))
  }

  get size (): number {
    return this.#conns.size
  }

  destroyAll (): void {
    for (const conn of this.#conns) conn.destroy()
    this.#conns.clear()
  }
}
