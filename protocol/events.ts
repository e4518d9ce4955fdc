/**
 * What the server publishes (docs/protocol.md). Types only: the server
 * builds these, clients read them; `v` is the protocol version.
 */
import type { ErrorBody } from './error-codes.js'

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
