import type { z } from 'zod'
import type { Caller } from './im-context.js'
import type { Envelope, Role } from '../../protocol/index.js'

/**
 * How a part outside the broker (bridge/: calls) plugs into the IM engine
 * without the broker importing it. An extension answers extra `im/cmd`
 * methods with the engine's request envelope, validation and error replies,
 * owns one subtree `im/{subtree}/...` (who may publish, subscribe and
 * receive there, and what a publish there does), and hears when devices
 * connect and disconnect. It speaks through the ImHost it is given.
 */
export interface ImExtension {
  /** The second topic level it owns; must not be one of the engine's own (send, cmd, inbox ...). */
  readonly subtree: string
  /** Methods it answers on im/cmd/{method}, with the schema of their arguments (`req` is checked apart). */
  readonly commands: Readonly<Record<string, ImExtensionCommand>>
  canPublish: (caller: Caller, topic: string) => boolean
  canSubscribe: (caller: Caller, filter: string) => boolean
  canReceive: (caller: Caller, topic: string) => boolean
  /**
   * A client's publish on the subtree, already allowed by canPublish. Refusals
   * are the extension's to answer; a rejection means not acknowledged.
   */
  publish: (caller: Caller, topic: string, payload: Buffer) => Promise<void>
  /** A device finished CONNECT. */
  connected?: (caller: Caller) => void
  /** A device's connection ended: DISCONNECT, socket closed, keepalive expiry, or taken over by a new one. */
  disconnected?: (caller: Caller) => void
  /** The server is closing: runs after the listeners stopped, while clients are still connected. */
  close?: () => Promise<void>
}

export interface ImExtensionCommand {
  readonly args: z.ZodType
  /** Resolves with the JSON result; throws ImError for a refusal the sender should read. */
  handle: (caller: Caller, args: any) => Promise<unknown>
}

/** What the engine offers an extension. */
export interface ImHost {
  /** Publish `{ v: PROTOCOL_VERSION, ...event }` as JSON through the broker (authorized per subscriber at delivery). */
  publish: (topic: string, event: Record<string, unknown>, qos?: 0 | 1) => Promise<void>
  /** Topic names: every device of a user; one device's replies. */
  inboxTopic: (user: string) => string
  replyTopic: (user: string, device: string) => string
  /** Members of a conversation and their roles (empty when it does not exist). */
  members: (conv: string) => ReadonlyMap<string, Role>
  userExists: (user: string) => Promise<boolean>
  /** Whether any device of the user is connected now. */
  isOnline: (user: string) => boolean
  /** Create the direct conversation of `user` with its other user on first use; refuses strangers and unknown users. */
  ensureDirect: (user: string, conv: string) => Promise<void>
  /**
   * Append a server-made message to a conversation's log through the normal
   * path (seq, idempotency by (from, cid), fan-out, receipts, push). Resolves
   * once it is durable.
   */
  append: (conv: string, draft: { from: string, device: string, cid: string, kind: string, body: unknown }) => Promise<Envelope>
}

/** Builds an extension once the engine exists (the server calls it during listen()). */
export type ImExtensionFactory = (host: ImHost) => ImExtension
