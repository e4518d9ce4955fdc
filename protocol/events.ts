/**
 * What the server publishes (docs/protocol.md). Types only: the server
 * builds these, clients read them; `v` is the protocol version.
 */
import type { ErrorBody } from './error-codes.js'

/**
 * 2: `sent` replies and receipts are sent at QoS 0, never queued on disk
 * (docs/protocol.md, "Versioning"). Clients of this package read 1 and 2.
 */
export const PROTOCOL_VERSION = 2
/** The versions this package's client reads. */
export type ProtocolVersion = 1 | 2

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
  /** null in a recalled message's tombstone; an edit of it keeps only `{ ref }`. */
  body: unknown
  /** Set when the message was recalled (docs/protocol.md, "Recall"): who recalled it, and the seq of the `delete`. */
  deleted?: Recall
}

/** What a tombstone says of its recall. */
export interface Recall {
  by: string
  seq: number
}

export type ConvType = 'direct' | 'group' | 'channel'
export type Role = 'owner' | 'admin' | 'member' | 'follower'
export type PresenceStatus = 'online' | 'away' | 'busy' | 'offline'

export type ServerEvent =
  | { v: ProtocolVersion, type: 'message', msg: Envelope }
  | { v: ProtocolVersion, type: 'receipt', conv: string, user: string, delivered: number, read: number }
  | { v: ProtocolVersion, type: 'typing', conv: string, from: string, device: string, typing: boolean }
  | { v: ProtocolVersion, type: 'presence', user: string, status: PresenceStatus, lastSeen: number }
  | { v: ProtocolVersion, type: 'conversation', event: 'added' | 'removed' | 'updated', conv: string, name?: string, role?: Role }
  | { v: ProtocolVersion, type: 'sent', cid: string, conv: string, seq: number, id: string, ts: number, duplicate: boolean }
  | { v: ProtocolVersion, type: 'error', ref: string | null, conv?: string, error: ErrorBody }
  | { v: ProtocolVersion, type: 'result', req: string | null, ok: true, result: unknown }
  | { v: ProtocolVersion, type: 'result', req: string | null, ok: false, error: ErrorBody }
