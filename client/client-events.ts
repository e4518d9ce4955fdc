import type { Envelope, ServerEvent } from '../protocol/index.js'
import type { HailClientError } from './errors.js'

type Payload<T extends ServerEvent['type']> = Omit<Extract<ServerEvent, { type: T }>, 'v' | 'type'>

/** Cumulative receipts of one user in one conversation: everything up to `delivered` / `read`. */
export type Receipt = Payload<'receipt'>
export type Typing = Payload<'typing'>
export type Presence = Payload<'presence'>
/** The user was added to, removed from, or saw a change of a conversation. */
export type ConversationEvent = Payload<'conversation'>

/** Everything a HailClient emits, with its listener's arguments. */
export interface ClientEvents {
  /** A stored message: once per (conv, seq), in seq order per conversation, live or synced. */
  message: [Envelope]
  receipt: [Receipt]
  typing: [Typing]
  presence: [Presence]
  conversation: [ConversationEvent]
  /** Each (re)connection, once the SDK's subscriptions are in place; `resumed` when the broker kept the session. */
  connect: [{ resumed: boolean }]
  /** The connection dropped; the client reconnects and syncs by itself. */
  disconnect: []
  /** The catch-up after a (re)connection is done: every conversation is synced to the server's state when it began. */
  synced: []
  /** Something failed that no promise reports: a sync a gap started, a bad payload, a refused reconnect. */
  error: [HailClientError]
  close: []
}
