import { Socket } from 'node:net'

/**
 * The parts of an aedes 1.2.0 Client (lib/client.js, its constructor) this
 * module relies on:
 * - `_eos`: the cleanup of `finished(conn, this.close.bind(this))`, which
 *   aedes calls (and then replaces with a no-op) in `close()`;
 * - the listeners the constructor adds, each a fresh bound function:
 *   `conn.on('error', this.emit.bind(this, 'error'))`,
 *   `conn.on('end', this.close.bind(this))` and
 *   `this._parser.on('error', this.emit.bind(this, 'error'))`;
 * - `conn.client` and `_parser.client`, the client each one belongs to;
 * - `_inboundInflight`, a Set per client that only the QoS 2 receive window
 *   uses (has, size, add and delete in lib/handlers/publish.js and pubrel.js).
 * test/broker/wire/lean-client.test.ts fails if any of this changes.
 */
interface ClientInternals {
  conn?: unknown
  _parser?: { client?: unknown, listeners?: (event: string) => unknown[], removeListener?: (event: string, f: unknown) => unknown, on?: (event: string, f: unknown) => unknown }
  _eos?: unknown
  _inboundInflight?: unknown
  emit?: unknown
  close?: unknown
}

/**
 * Memory only (issue 13: an idle persistent session should hold little):
 * aedes gives every connection `finished()`'s seven closures and their
 * scope, and three bound functions, to learn that the connection ended.
 * For a net.Socket (TCP and TLS) this puts in their place four functions
 * shared by every connection, which find their client through
 * `conn.client` or `parser.client`:
 * - 'close' closes the client: what `finished()` reported (a socket emits
 *   'close' after its end, its error, or its destruction; `close()` may be
 *   called more than once);
 * - 'end' closes the client, 'error' on the socket or the parser is the
 *   client's 'error', as before.
 * Other streams (WebSocket ones may not emit 'close') keep aedes' own.
 * The client's inbound QoS 2 window gets its Set on first use.
 * Returns false, changing nothing, when the client is not as described.
 */
export function leanClient (client: object): boolean {
  const internals = client as ClientInternals
  const conn = internals.conn
  const parser = internals._parser
  if (!(conn instanceof Socket) || (conn as { client?: unknown }).client !== client || parser?.client !== client ||
    typeof internals._eos !== 'function' || typeof internals.emit !== 'function' || typeof internals.close !== 'function' ||
    typeof parser.listeners !== 'function' || typeof parser.removeListener !== 'function' || typeof parser.on !== 'function' ||
    !(internals._inboundInflight instanceof Set) || internals._inboundInflight.size !== 0) return false
  const connError = boundOnly(conn.listeners('error'), 'bound emit')
  const connEnd = boundOnly(conn.listeners('end'), 'bound close')
  const parserError = boundOnly(parser.listeners('error'), 'bound emit')
  if (connError === undefined || connEnd === undefined || parserError === undefined) return false
  ;(internals._eos as () => void)()
  internals._eos = noop
  conn.removeListener('error', connError as (...args: unknown[]) => void)
  conn.removeListener('end', connEnd as (...args: unknown[]) => void)
  parser.removeListener('error', parserError)
  conn.on('error', emitClientError)
  conn.on('end', closeClient)
  conn.on('close', closeClient)
  parser.on('error', emitClientError)
  internals._inboundInflight = new LazySet()
  return true
}

/** The one listener named `name` (aedes' bound function), or undefined when there is not exactly one. */
function boundOnly (listeners: unknown[], name: string): unknown {
  const found = listeners.filter((f) => typeof f === 'function' && f.name === name)
  return found.length === 1 ? found[0] : undefined
}

interface HasClient { client: { emit: (event: 'error', err: Error) => unknown, close: () => void } }

function emitClientError (this: HasClient, err: Error): void {
  this.client.emit('error', err)
}

function closeClient (this: HasClient): void {
  this.client.close()
}

function noop (): void {}

/** The Set operations aedes uses on `_inboundInflight`, with the Set made on the first add. */
class LazySet<T> {
  #set: Set<T> | undefined
  get size (): number { return this.#set?.size ?? 0 }
  has (value: T): boolean { return this.#set?.has(value) ?? false }
  add (value: T): this {
    (this.#set ??= new Set()).add(value)
    return this
  }

  delete (value: T): boolean { return this.#set?.delete(value) ?? false }
  clear (): void { this.#set?.clear() }
}
