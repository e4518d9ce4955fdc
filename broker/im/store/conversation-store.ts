import type { ConvType } from './conv-id.js'

import type { Role } from '../../../protocol/index.js'
export type { Role }

export const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'follower']

export interface Conversation {
  id: string
  /** From the id: d: direct, g: group, c: channel. */
  type: ConvType
  name?: string
  /** Channels: whether anyone may find and follow it. Stored as given, not interpreted. */
  public?: boolean
  createdBy: string
  createdAt: number
}

export interface ConversationMeta {
  name?: string
  public?: boolean
  createdBy: string
  /** Default: now. */
  createdAt?: number
}

export interface Member {
  user: string
  role: Role
  /**
   * The conversation's lastSeq when the user joined: the history visible to
   * them starts after it. 0 for direct conversations.
   */
  joinedSeq: number
}

export interface MemberInput {
  user: string
  role: Role
  /** Default 0. */
  joinedSeq?: number
}

export interface Membership {
  conv: string
  role: Role
}

/**
 * Conversations and who is in them. In the level store `member()` and
 * `contactsOf()` answer from memory after their first call (they run on
 * every publish, delivery and presence update) and stay coherent with every
 * write through this instance: one instance per database. The Redis store
 * caches nothing, so every node sharing the Redis answers alike. Every change
 * is synced before it resolves.
 */
export interface ConversationStore {
  /**
   * Creates the conversation with its first members in one batch. Resolves
   * false, changing nothing, when it exists already (two first messages of a
   * direct conversation racing). Direct conversations admit only their two users.
   */
  create: (conv: string, meta: ConversationMeta, members: MemberInput[]) => Promise<boolean>
  get: (conv: string) => Promise<Conversation | undefined>
  /** Every member, ordered by user name. Large channels: all followers, read from disk. */
  members: (conv: string) => Promise<Member[]>
  /** The member, or undefined; from memory after the first call. */
  member: (conv: string, user: string) => Promise<Member | undefined>
  /** Resolves false when the user is a member already (their role is left alone: see setRole). Throws NotFoundError for a missing conversation. */
  addMember: (conv: string, member: MemberInput) => Promise<boolean>
  /** Resolves false when the user was no member. Throws NotFoundError for a missing conversation. */
  removeMember: (conv: string, user: string) => Promise<boolean>
  /** Resolves false when the user is no member; true when they are (with the role now `role`). Throws NotFoundError for a missing conversation. */
  setRole: (conv: string, user: string, role: Role) => Promise<boolean>
  /** Sets the name, or removes it with null. Throws NotFoundError for a missing conversation. */
  rename: (conv: string, name: string | null) => Promise<void>
  /** The conversations `user` belongs to, with their role, ordered by conv id. */
  conversationsOf: (user: string) => Promise<Membership[]>
  /**
   * Every membership of every conversation, ordered by conversation then
   * user, read from disk as it is iterated (for a scan at start or a
   * migration; member() needs no preloading).
   */
  allMemberships: () => AsyncIterable<{ conv: string } & Member>
  /**
   * Users who share a direct or group conversation with `user` (channels do
   * not make their followers contacts), without `user`. Cached; do not modify.
   */
  contactsOf: (user: string) => Promise<ReadonlySet<string>>
  /** Whether `a` and `b` share a direct or group conversation: contactsOf(a).has(b). */
  sharesConversation: (a: string, b: string) => Promise<boolean>
  /**
   * Deletes the conversation and its memberships. Members are removed first,
   * in batches, the conversation last: a crash part way leaves it existing
   * with fewer members, and deleting again finishes. The log and receipts of
   * the conversation are not touched. Resolves false if it did not exist.
   */
  delete: (conv: string) => Promise<boolean>
  /** Waits for the writes in flight; the store must not be used afterwards. Does not close the database. */
  close: () => Promise<void>
}
