import type { ErrorCode } from '../protocol/index.js'

/** Codes the SDK itself raises, next to the server's (docs/protocol.md, "Errors"). */
export type ClientErrorCode =
  /** No reply within the timeout; for a send, resending with the same cid is safe. */
  | 'HAIL_ERR_TIMEOUT'
  /** The client was closed before the operation finished. */
  | 'HAIL_ERR_CLOSED'
  /** The first connection failed (network, TLS, broker unreachable). */
  | 'HAIL_ERR_CONNECT'
  /**
   * The broker answered CONNACK 3 (server unavailable: its store is down). The SDK keeps
   * reconnecting by itself; this only tells the app why it is offline.
   */
  | 'HAIL_ERR_UNAVAILABLE'
  /** CONNACK refused the credentials or the client id (return code 4 or 5). */
  | 'HAIL_ERR_NOT_AUTHORIZED'
  /** The broker refused a subscription the SDK needs (SUBACK 0x80). */
  | 'HAIL_ERR_SUBSCRIBE'
  /** An argument the SDK can tell is wrong before sending anything. */
  | 'HAIL_ERR_BAD_ARGUMENT'
  /** The server sent a payload that is not protocol v1. */
  | 'HAIL_ERR_BAD_PAYLOAD'
  /** The CursorStore failed to load or save. */
  | 'HAIL_ERR_STORE'
  /** An event listener threw; the SDK went on. */
  | 'HAIL_ERR_LISTENER'
  /** A publish could not be handed to the transport. */
  | 'HAIL_ERR_PUBLISH'
  /** A background sync failed for a reason other than the above. */
  | 'HAIL_ERR_SYNC'
  /** A call's media could not be negotiated or its connection failed (client/call.ts). */
  | 'HAIL_ERR_MEDIA'

export type HailClientErrorCode = ErrorCode | ClientErrorCode

/**
 * Every error of the SDK: `code` is the server's `HAIL_ERR_*` when the server
 * refused, else one of ClientErrorCode. Branch on the code, never the text.
 */
export class HailClientError extends Error {
  /** Known codes autocomplete; a newer server may send others. */
  readonly code: HailClientErrorCode | (string & {})
  /** The cid of the message or the req of the request this answers, when there is one. */
  readonly ref: string | undefined

  constructor (code: HailClientErrorCode | (string & {}), message: string, options?: { cause?: unknown, ref?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HailClientError'
    this.code = code
    this.ref = options?.ref
  }
}

/** Wrap anything thrown into a HailClientError, keeping one that already is. */
export function toClientError (err: unknown, code: ClientErrorCode, message: string): HailClientError {
  if (err instanceof HailClientError) return err
  const detail = err instanceof Error ? err.message : String(err)
  return new HailClientError(code, `${message}: ${detail}`, { cause: err })
}
