import type { IncomingMessage } from 'node:http'
import { exactDedupe, type LiveHandovers } from './delivery-dedupe.js'
import { boundSends } from './slow-consumer.js'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Aedes, Client } from 'aedes'
import pino, { type Logger } from 'pino'
import { ConfigError } from '../errors.js'
import type { Metrics } from '../metrics.js'
import { ackOrder } from './ack-order.js'
import { classifyRejection } from './classify-rejection.js'
import { FrameScanner } from './frame-scanner.js'
import { leanClient } from './lean-client.js'
import { leanParser, leanSettings } from './lean-parser.js'
import type { Rejection } from './rejections.js'

export interface GuardedHandleOptions {
  /** Largest whole packet accepted, in bytes (limits.maxPacketSize). */
  maxPacketSize: number
  /**
   * Longest client id, in characters. Defaults to the broker's own
   * `maxClientsIdLength` option (kept as `aedes.maxClientsIdLength` in aedes
   * 1.2.0), which aedes applies to MQTT 3.1 clients only.
   */
  maxClientIdLength?: number
  /** Bytes a client may leave unsent before its copies are dropped or it is closed (limits.sendBuffer; slow-consumer.ts). */
  sendBuffer?: number
  /** Let control characters through in client ids, user names, topics and filters (limits.allowControlCharacters). */
  allowControlCharacters?: boolean
  metrics?: Metrics
  logger?: Logger
}

/**
 * The part of an aedes 1.2.0 Client (lib/client.js) this module relies on and
 * aedes' types do not declare: `_parser`, the mqtt-packet parser that the
 * client feeds with `client._parser.parse(conn.read(null))` on every
 * 'readable'. test/broker/wire/guarded-handle.test.ts fails if it goes.
 */
interface ClientInternals {
  _parser?: {
    parse?: (buf: Buffer) => number
    prependListener?: (event: 'error', listener: (err: Error) => void) => unknown
  }
}

/** limits.sendBuffer's default (config.ts), for callers that build the handler themselves. */
const DEFAULT_SEND_BUFFER = 4 * 1024 * 1024

/** aedes' default, and the length every server must accept [MQTT-3.1.3-5]. */
const DEFAULT_MAX_CLIENT_ID_LENGTH = 23

/**
 * Returns the function the listeners call for each accepted connection (TCP,
 * TLS or WebSocket stream) instead of `aedes.handle`, so that Hail holds to
 * MQTT 3.1.1 where aedes 1.2 and mqtt-packet 9 do not (see rejections.ts for
 * the catalogue, and which of the three enforces each rule).
 *
 * Each chunk read from the connection passes a FrameScanner before aedes'
 * parser: no extra stream and no second parse (only a checked field split
 * across chunks is copied). A refused chunk is cut before the offending
 * packet, whole packets before it are still handled, and only that
 * connection closes (after a CONNACK where the spec asks). Packets still
 * queued behind an unanswered CONNECT are dropped with it, as aedes does on
 * any close. Violations that mqtt-packet or aedes catch themselves are
 * recognised from the client's 'error' event and counted the same way.
 */
export function guardedHandle (aedes: Aedes, opts: GuardedHandleOptions): (conn: Duplex, req?: IncomingMessage) => void {
  const { maxPacketSize, metrics } = opts
  if (!Number.isInteger(maxPacketSize) || maxPacketSize < 2) {
    throw new ConfigError(`guardedHandle: maxPacketSize must be an integer of at least 2, got ${maxPacketSize}`)
  }
  const logger = opts.logger ?? pino({ level: 'silent' })
  const sendBuffer = opts.sendBuffer ?? DEFAULT_SEND_BUFFER
  // a persistence that tracks drains (LevelPersistence) says so with this property
  const handovers = (aedes as unknown as { persistence?: { drainHandovers?: LiveHandovers } }).persistence?.drainHandovers
  const maxClientIdLength = opts.maxClientIdLength ??
    (aedes as unknown as { maxClientsIdLength?: number }).maxClientsIdLength ??
    DEFAULT_MAX_CLIENT_ID_LENGTH

  /** One for every connection: the client's own socket says where it is from. */
  const sendBufferFull = (client: Client): void => {
    metrics?.limitHits.inc({ limit: 'sendBuffer' })
    const address = (client.conn as Partial<Socket>).remoteAddress ?? client.req?.socket?.remoteAddress
    logger.warn({ address, clientId: client.id, sendBuffer }, 'send buffer full: the client does not read; QoS 0 dropped, QoS > 0 closes it')
  }

  return function handle (conn: Duplex, req?: IncomingMessage): void {
    // Read now: a socket forgets its peer once destroyed, and aedes destroys first.
    const address = (conn as Partial<Socket>).remoteAddress ?? req?.socket?.remoteAddress
    const client = aedes.handle(conn, req)
    exactDedupe(client, handovers)
    const parser = (client as unknown as ClientInternals)._parser
    const parse = parser?.parse
    if (parser === undefined || typeof parse !== 'function' || typeof parser.prependListener !== 'function') {
      // Serving unguarded would silently drop every check here: refuse instead.
      logger.error({ address }, 'aedes client has no _parser.parse (aedes internals changed?): connection refused')
      conn.destroy()
      return
    }
    // Memory only: a parser or client that cannot be made lean works as it is.
    leanParser(parser)
    leanClient(client)
    const bounded = boundSends(client, sendBuffer, sendBufferFull)
    if (!bounded) {
      // One frozen client would stall every delivery again: refuse instead.
      logger.error({ address }, 'aedes client has no deliver0, deliverQoS or waitForDrain (aedes internals changed?): connection refused')
      conn.destroy()
      return
    }

    const guard = new ConnectionGuard(conn, client, parser, parse, address, logger, metrics,
      new FrameScanner({ maxPacketSize, maxClientIdLength, allowControlCharacters: opts.allowControlCharacters, checkAck: ackOrder(conn) }))
    // Shared functions that find their connection's guard through the parser: no closures per connection.
    ;(parser as GuardedParser)[GUARD] = guard
    parser.parse = guardedParse
    // Runs before aedes' own listener, which turns it into the client 'error' below.
    parser.prependListener('error', noteParserError)
    client.on('error', onClientError)
  }
}

const GUARD = Symbol('hail.guard')
type Parse = (buf: Buffer) => number
interface GuardedParser { [GUARD]: ConnectionGuard }

/** One connection's checks and what they need; reached from its parser, so each connection holds one object and no closures. */
class ConnectionGuard {
  reported = false
  parserError: Error | null = null

  constructor (
    readonly conn: Duplex,
    readonly client: { id?: string | null },
    readonly parser: object,
    readonly parse: Parse,
    readonly address: string | undefined,
    readonly logger: Logger,
    readonly metrics: Metrics | undefined,
    readonly scanner: FrameScanner
  ) {}

  report (rejection: Rejection, err?: Error): void {
    this.reported = true
    if (rejection.reason !== undefined) this.metrics?.protocolErrors.inc({ reason: rejection.reason })
    if (rejection.limit !== undefined) this.metrics?.limitHits.inc({ limit: rejection.limit })
    this.logger.warn({
      address: this.address,
      clientId: this.client.id ?? undefined,
      reason: rejection.reason,
      limit: rejection.limit,
      clause: rejection.clause,
      by: rejection.by,
      err: err?.message
    }, rejection.limit === undefined ? 'MQTT protocol violation: connection closed' : 'MQTT limit exceeded: connection closed')
  }

  scan (chunk: Buffer | Uint8Array): number {
    if (this.reported) return 0
    // A stream in object mode may hand over a plain Uint8Array; the scanner needs Buffer methods.
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)
    const verdict = this.scanner.scan(buf)
    if (verdict === null) {
      const left = this.parse.call(this.parser, buf)
      leanSettings(this.parser)
      return left
    }
    if (verdict.cut > 0) {
      this.parse.call(this.parser, buf.subarray(0, verdict.cut))
      leanSettings(this.parser)
    }
    // Those whole packets may have closed the connection themselves.
    if (this.reported) return 0
    this.report(verdict.rejection)
    const code = verdict.rejection.connack
    const conn = this.conn
    if (code === undefined) {
      conn.destroy()
    } else {
      // The parser never saw this CONNECT, so aedes sends nothing: answer here,
      // then close [MQTT-3.2.2-5]. 0x20 0x02: CONNACK, two bytes; no session.
      conn.end(Buffer.from([0x20, 0x02, 0x00, code]), () => conn.destroy())
    }
    return 0
  }

  clientError (err: Error): void {
    if (this.reported) return
    const rejection = classifyRejection(err, err === this.parserError)
    if (rejection !== null) this.report(rejection, err) // aedes has closed it already
  }
}

/** The parser's parse, as aedes calls it (`client._parser.parse(buf)`): the scanner first. */
function guardedParse (this: GuardedParser, chunk: Buffer): number {
  return this[GUARD].scan(chunk)
}

function noteParserError (this: GuardedParser, err: Error): void {
  this[GUARD].parserError = err
}

function onClientError (this: { _parser?: object }, err: Error): void {
  (this._parser as GuardedParser | undefined)?.[GUARD]?.clientError(err)
}
