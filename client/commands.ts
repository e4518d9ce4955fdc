import type { z } from 'zod'
import type { ConvType, Envelope, PresenceStatus, Role } from '../protocol/index.js'
import type { bodies, commands, MessageKind, Method } from '../protocol/schemas.js'

/** What a request's arguments may be: the method's schema before defaults (`limit`, `public`, `members`). */
export type CommandArgs<M extends Method> = z.input<(typeof commands)[M]>

/** A message to send: a kind and its body, typed together. */
export type OutgoingMessage = { [K in MessageKind]: { kind: K, body: z.input<(typeof bodies)[K]> } }[MessageKind]

/** One conversation as `conversations` lists it. */
export interface ConversationInfo {
  conv: string
  type: ConvType
  name?: string
  role: Role
  /** The newest seq in the conversation. */
  lastSeq: number
  /** The oldest seq this user can still read (pruning, or when they joined). */
  firstSeq: number
  /** This user's read and delivered receipts. */
  read: number
  delivered: number
}

export interface Member {
  user: string
  role: Role
}

export interface DeviceKey {
  device: string
  keyId: string
  alg: string
  publicKey: string
  createdAt: number
}

/** An upload in progress: which chunks the server has. */
export interface UploadStatus {
  uploadId: string
  chunkBytes: number
  chunks: number
  have: number[]
}

/** A file the server stored. */
export interface StoredFile {
  fileId: string
  sha256: string
  size: number
  name: string
  type: string
}

/** Fails to compile when a method of the protocol has no result type here. */
type EveryMethod<T extends Record<Method, unknown>> = T

/**
 * What each `im/cmd/{method}` answers (docs/protocol.md, "Requests"). The
 * protocol module types the arguments; the results are written down here.
 */
export type CommandResults = EveryMethod<{
  conversations: { conversations: ConversationInfo[] }
  sync: { conv: string, messages: Envelope[], more: boolean, lastSeq: number, firstSeq: number }
  'sync.all': { conversations: ConversationInfo[], pages: Array<CommandResults['sync']> }
  read: { conv: string, read: number }
  'direct.open': { conv: string }
  'group.create': { conv: string }
  'channel.create': { conv: string }
  'channel.follow': { conv: string }
  'channel.unfollow': { conv: string }
  'conv.add': { conv: string, added: string[] }
  'conv.remove': { conv: string, removed: string[] }
  'conv.leave': { conv: string }
  'conv.rename': { conv: string, name: string }
  'conv.role': { conv: string, user: string, role: 'admin' | 'member' }
  'conv.members': { conv: string, members: Member[] }
  'presence.set': { status: Exclude<PresenceStatus, 'offline'> }
  'keys.put': Record<string, never>
  'keys.get': { user: string, keys: DeviceKey[] }
  'push.register': { token: string, platform: 'fcm' | 'apns' | 'web' }
  'push.unregister': { removed: number }
  'file.start': UploadStatus
  'file.status': UploadStatus
  'file.finish': StoredFile
}>

export type CommandResult<M extends Method> = CommandResults[M]
