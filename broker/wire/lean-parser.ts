import { createRequire } from 'node:module'

/**
 * The plain BufferList of the `bl` that mqtt-packet itself loads (resolved
 * from mqtt-packet's own location, so always the version its parser was
 * written against): the same methods as the BufferListStream its parser
 * keeps, without being a Duplex stream.
 */
const { BufferList } = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'))('bl') as { BufferList?: new () => BufferListLike }

/**
 * The parts of an mqtt-packet 9 Parser (parser.js) this module relies on:
 * `_list`, the buffer list it reads packets from (`bl()`, a BufferListStream
 * made again by `_resetState` after an error), and `_resetState` itself.
 * test/broker/wire/lean-parser.test.ts fails if either changes.
 */
interface BufferListLike { length?: unknown, append?: unknown, consume?: unknown, pipe?: unknown }
interface ParserInternals {
  _list?: BufferListLike
  _resetState?: () => void
}

/**
 * Gives an mqtt-packet parser a plain BufferList where it keeps a
 * BufferListStream: the parser only appends, reads and consumes (never
 * pipes), and the stream's readable and writable states and listeners were
 * ~1.3 KiB of every connection, idle or not (issue 13: idle sessions).
 * Returns false, changing nothing, when the parser is not as described
 * above or already holds bytes.
 */
export function leanParser (parser: object): boolean {
  const internals = parser as ParserInternals
  const list = internals._list
  if (BufferList === undefined || typeof internals._resetState !== 'function' || list === undefined ||
    list.length !== 0 || typeof list.append !== 'function' || typeof list.consume !== 'function' || typeof list.pipe !== 'function') return false
  internals._list = new BufferList()
  internals._resetState = leanReset
  return true
}

/** The parser's own reset (after a parse error), then the plain list again; one function for every parser. */
function leanReset (this: ParserInternals): void {
  (Object.getPrototypeOf(this) as Required<ParserInternals>)._resetState.call(this)
  this._list = new (BufferList as new () => BufferListLike)()
}

interface ParserSettings { cmd?: unknown, protocolVersion?: unknown, bridgeMode?: unknown }
/** The settings every parser reads after its CONNECT, one frozen object per protocol version and bridge mode. */
const SHARED_SETTINGS = new Map<string, Readonly<ParserSettings>>()

/**
 * mqtt-packet 9 keeps a connection's whole CONNECT packet (client id, user
 * name, password, will) as `parser.settings` for the life of the connection,
 * and reads only its `protocolVersion` and `bridgeMode` from it. Once the
 * parser has read a CONNECT, this puts a shared object holding those two in
 * its place (~0.2 KiB per connection, and no password kept in memory).
 * test/broker/wire/lean-parser.test.ts fails if mqtt-packet reads more.
 */
export function leanSettings (parser: object): void {
  const p = parser as { settings?: ParserSettings }
  const settings = p.settings
  if (settings?.cmd !== 'connect') return
  const key = `${String(settings.protocolVersion)}:${String(settings.bridgeMode)}`
  let shared = SHARED_SETTINGS.get(key)
  if (shared === undefined) {
    shared = Object.freeze({ protocolVersion: settings.protocolVersion, bridgeMode: settings.bridgeMode })
    SHARED_SETTINGS.set(key, shared)
  }
  p.settings = shared
}
