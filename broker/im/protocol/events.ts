/**
 * What the server publishes (docs/protocol.md). Types only: the server
 * builds these, clients read them; `v` is the protocol version.
 */
export const PROTOCOL_VERSION = 1

/** A stored message; everything but `cid`, `kind` and `body` is stamped by the server (DESIGN invariant 2). */
export interface Envelope {
  /** `${conv}/${seq}`: unique and derivable. */
  id: string
  conv: string
  seq: number
  from: string
  device: string
  cid: string
  ts: number
  kind: string
  body: unknown
}

export type ConvType = 'direct' | 'group' | 'channel'
export type Role = 'owner' | 'admin' | 'member' | 'follower'
export type PresenceStatus = 'online' | 'away' | 'busy' | 'offline'

export interface ErrorBody { code: ErrorCode, message: string }

export type ErrorCode =
  | 'HAIL_ERR_BAD_REQUEST'
  | 'HAIL_ERR_UNKNOWN_METHOD'
  | 'HAIL_ERR_TOO_LARGE'
  | 'HAIL_ERR_NOT_MEMBER'
  | 'HAIL_ERR_FORBIDDEN'
  | 'HAIL_ERR_NOT_FOUND'
  | 'HAIL_ERR_RATE_LIMITED'
  | 'HAIL_ERR_INTERNAL'
  | 'HAIL_ERR_FILE_HASH'
  | 'HAIL_ERR_QUOTA'
  // Calls (bridge/, docs/protocol.md "Calls")
  | 'HAIL_ERR_CALL_NOT_FOUND'
  | 'HAIL_ERR_CALL_STATE'
  | 'HAIL_ERR_BUSY'
  | 'HAIL_ERR_SDP'
  | 'HAIL_ERR_CANDIDATE'
  | 'HAIL_ERR_SIGNAL_STATE'
  | 'HAIL_ERR_MEDIA'

export type ServerEvent =
  | { v: 1, type: 'message', msg: Envelope }
  | { v: 1, type: 'receipt', conv: string, user: string, delivered: number, read: number }
  | { v: 1, type: 'typing', conv: string, from: string, device: string, typing: boolean }
  | { v: 1, type: 'presence', user: string, status: PresenceStatus, lastSeen: number }
  | { v: 1, type: 'conversation', event: 'added' | 'removed' | 'updated', conv: string, name?: string, role?: Role }
  | { v: 1, type: 'sent', cid: string, conv: string, seq: number, id: string, ts: number, duplicate: boolean }
  | { v: 1, type: 'error', ref: string | null, conv?: string, error: ErrorBody }
  | { v: 1, type: 'result', req: string | null, ok: true, result: unknown }
  | { v: 1, type: 'result', req: string | null, ok: false, error: ErrorBody }
