import type { Role } from '../../protocol/index.js'

/** One change of the mirror, as told to observers (cluster/: other nodes apply it). */
export type MembershipChange =
  | { readonly op: 'set', readonly conv: string, readonly user: string, readonly role: Role }
  | { readonly op: 'remove', readonly conv: string, readonly user: string }

/**
 * Who is in which conversation, in memory, answered synchronously. aedes'
 * authorizeForward runs on every delivery and cannot wait for a store, so
 * the engine mirrors the conversation store here: loaded at start, changed
 * only after the store's write succeeded.
 *
 * Contacts (users who share a direct or group conversation) decide who sees
 * whose presence; they are derived on demand and cached until a membership
 * of that user changes. Channel followers are not each other's contacts.
 */
export class Membership {
  readonly #byConv = new Map<string, Map<string, Role>>()
  readonly #byUser = new Map<string, Map<string, Role>>()
  readonly #contacts = new Map<string, Set<string>>()
  readonly #observers: Array<(change: MembershipChange) => void> = []

  /** Hear of every local set/remove (not of apply/replace): how a node tells the others. */
  observe (observer: (change: MembershipChange) => void): void {
    this.#observers.push(observer)
  }

  set (conv: string, user: string, role: Role): void {
    this.#set(conv, user, role)
    this.#tell({ op: 'set', conv, user, role })
  }

  remove (conv: string, user: string): void {
    this.#remove(conv, user)
    this.#tell({ op: 'remove', conv, user })
  }

  /** A change made elsewhere (another node): applied, not told again. */
  apply (change: MembershipChange): void {
    if (change.op === 'set') this.#set(change.conv, change.user, change.role)
    else this.#remove(change.conv, change.user)
  }

  /** Swap the whole mirror for `entries` at once (a reload from the store), untold. */
  replace (entries: Iterable<{ conv: string, user: string, role: Role }>): void {
    this.#byConv.clear()
    this.#byUser.clear()
    this.#contacts.clear()
    for (const { conv, user, role } of entries) this.#set(conv, user, role)
  }

  #tell (change: MembershipChange): void {
    for (const observer of this.#observers) observer(change)
  }

  #set (conv: string, user: string, role: Role): void {
    let members = this.#byConv.get(conv)
    if (members === undefined) this.#byConv.set(conv, members = new Map())
    let convs = this.#byUser.get(user)
    if (convs === undefined) this.#byUser.set(user, convs = new Map())
    const isNew = !members.has(user)
    members.set(user, role)
    convs.set(conv, role)
    if (isNew) this.#invalidate(conv)
  }

  #remove (conv: string, user: string): void {
    this.#invalidate(conv)
    this.#byConv.get(conv)?.delete(user)
    const convs = this.#byUser.get(user)
    convs?.delete(conv)
    if (convs?.size === 0) this.#byUser.delete(user)
    this.#contacts.delete(user)
  }

  role (conv: string, user: string): Role | undefined {
    return this.#byConv.get(conv)?.get(user)
  }

  /** Every conversation with at least one member. */
  conversations (): IterableIterator<string> {
    return this.#byConv.keys()
  }

  has (conv: string): boolean {
    return this.#byConv.has(conv)
  }

  members (conv: string): ReadonlyMap<string, Role> {
    return this.#byConv.get(conv) ?? EMPTY
  }

  conversationsOf (user: string): ReadonlyMap<string, Role> {
    return this.#byUser.get(user) ?? EMPTY
  }

  /** Whether `a` may see `b`'s presence: themselves, or a shared direct or group conversation. */
  sharesConversation (a: string, b: string): boolean {
    if (a === b) return true
    let contacts = this.#contacts.get(a)
    if (contacts === undefined) {
      contacts = new Set()
      for (const conv of this.conversationsOf(a).keys()) {
        if (conv.startsWith('c:')) continue
        for (const user of this.members(conv).keys()) contacts.add(user)
      }
      this.#contacts.set(a, contacts)
    }
    return contacts.has(b)
  }

  /** Users whose contact set includes `user`: who must hear about `user`'s presence. */
  contactsOf (user: string): Set<string> {
    const contacts = new Set<string>()
    for (const conv of this.conversationsOf(user).keys()) {
      if (conv.startsWith('c:')) continue
      for (const other of this.members(conv).keys()) if (other !== user) contacts.add(other)
    }
    return contacts
  }

  /** A membership change in `conv` changes the contacts of each of its members. */
  #invalidate (conv: string): void {
    if (conv.startsWith('c:')) return
    for (const user of this.members(conv).keys()) this.#contacts.delete(user)
  }
}

const EMPTY: ReadonlyMap<string, Role> = new Map()
