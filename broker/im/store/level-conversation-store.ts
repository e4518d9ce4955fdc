import type { GroupCommit, GroupCommitOperation, LevelDatabase } from '../../storage/index.js'
import { KeyedLock } from '../../storage/index.js'
import { isUserName, parseConvId, requireConvId, requireUserName, type ParsedConvId } from './conv-id.js'
import {
  type Conversation, type ConversationMeta, type ConversationStore, type Member, type MemberInput, type Membership, type Role
} from './conversation-store.js'
import { memberOf, requireAdmissible, requireName, requireRole } from './conversation-input.js'
import { NotFoundError, StoreError, StoreInputError } from './errors.js'
import { LazyCache } from './lazy-cache.js'
import { LevelJson, prefixRange } from '../../storage/index.js'

// Keys (no conv id or user name contains '!'):
//   c!{conv}            { name?, createdBy, createdAt }
//   m!{conv}!{user}     { role, joinedSeq }
//   u!{user}!{conv}     { role }            the user's side, same batch
const DELETE_CHUNK = 1000

export interface LevelConversationStoreOptions {
  /** (conversation, user) pairs whose membership is kept in memory (default 100,000). */
  memberCacheSize?: number
  /** Direct and group conversations whose member list is kept in memory (default 10,000). */
  listCacheSize?: number
  /** Users whose contacts are kept in memory (default 10,000). */
  contactCacheSize?: number
  /** Conversations whose metadata is kept in memory (default 10,000). */
  convCacheSize?: number
}

type StoredConv = Omit<Conversation, 'id' | 'type'>
interface StoredMember { role: Role, joinedSeq: number }

/**
 * Conversations on a level sublevel. Writes to one conversation run one at a
 * time; each writes the disk (synced, through the group commit) and then the
 * caches, so what memory answers never runs ahead of the disk. Channel
 * followers are cached one (conversation, user) pair at a time, never as a
 * whole list.
 */
export class LevelConversationStore implements ConversationStore {
  readonly #store: LevelJson
  readonly #lock = new KeyedLock()
  readonly #convs: LazyCache<Conversation | null>
  readonly #members: LazyCache<Member | null>
  readonly #lists: LazyCache<readonly Member[]>
  readonly #contacts: LazyCache<ReadonlySet<string>>
  #closed = false

  /** `db` is the store's sublevel; `groupCommit` the server's synced group commit on the same database. */
  constructor (db: LevelDatabase, groupCommit: GroupCommit, options: LevelConversationStoreOptions = {}) {
    this.#store = new LevelJson(db, groupCommit, 'conversation store')
    this.#members = new LazyCache(options.memberCacheSize ?? 100_000)
    this.#lists = new LazyCache(options.listCacheSize ?? 10_000)
    this.#contacts = new LazyCache(options.contactCacheSize ?? 10_000)
    this.#convs = new LazyCache(options.convCacheSize ?? 10_000)
  }

  async create (conv: string, meta: ConversationMeta, members: MemberInput[]): Promise<boolean> {
    const parsed = requireConvId(conv)
    const stored = storedConv(meta)
    const inputs = members.map(memberOf)
    const users = new Set(inputs.map(m => m.user))
    if (users.size !== inputs.length) throw new StoreInputError(`a member is listed twice in ${conv}`)
    for (const user of users) requireAdmissible(parsed, user)
    return await this.#write(conv, async () => {
      if (await this.#conv(conv) !== null) return false
      const ops = [this.#store.put(`c!${conv}`, stored)]
      for (const member of inputs) ops.push(...this.#memberOps(conv, member))
      await this.#store.write(ops)
      this.#convs.set(conv, { id: conv, type: parsed.type, ...stored })
      for (const member of inputs) this.#members.set(memberKey(conv, member.user), member)
      this.#lists.delete(conv)
      this.#dropContacts(parsed, users)
      return true
    })
  }

  async get (conv: string): Promise<Conversation | undefined> {
    if (parseConvId(conv) === null) return undefined
    return await this.#conv(conv) ?? undefined
  }

  async members (conv: string): Promise<Member[]> {
    const parsed = requireConvId(conv)
    if (parsed.type === 'channel') return [...await this.#readMembers(conv)]
    return [...await this.#lists.get(conv, () => this.#readMembers(conv))]
  }

  /** Undefined also for a malformed conversation id or user name: nobody is a member of those. */
  async member (conv: string, user: string): Promise<Member | undefined> {
    if (!isUserName(user) || parseConvId(conv) === null) return undefined
    const member = await this.#members.get(memberKey(conv, user), async () => {
      const stored = await this.#store.get<StoredMember>(`m!${conv}!${user}`)
      return stored === undefined ? null : Object.freeze({ user, ...stored })
    })
    return member ?? undefined
  }

  async addMember (conv: string, input: MemberInput): Promise<boolean> {
    const parsed = requireConvId(conv)
    const member = memberOf(input)
    requireAdmissible(parsed, member.user)
    return await this.#write(conv, async () => {
      await this.#requireConv(conv)
      if (await this.#store.get(`m!${conv}!${member.user}`) !== undefined) return false
      await this.#store.write(this.#memberOps(conv, member))
      this.#members.set(memberKey(conv, member.user), member)
      this.#lists.delete(conv)
      await this.#dropContactsOfConv(parsed, member.user)
      return true
    })
  }

  async removeMember (conv: string, user: string): Promise<boolean> {
    const parsed = requireConvId(conv)
    requireUserName(user)
    return await this.#write(conv, async () => {
      await this.#requireConv(conv)
      if (await this.#store.get(`m!${conv}!${user}`) === undefined) return false
      await this.#store.write([this.#store.del(`m!${conv}!${user}`), this.#store.del(`u!${user}!${conv}`)])
      this.#members.set(memberKey(conv, user), null)
      this.#lists.delete(conv)
      await this.#dropContactsOfConv(parsed, user)
      return true
    })
  }

  async setRole (conv: string, user: string, role: Role): Promise<boolean> {
    requireConvId(conv)
    requireUserName(user)
    requireRole(role)
    return await this.#write(conv, async () => {
      await this.#requireConv(conv)
      const stored = await this.#store.get<StoredMember>(`m!${conv}!${user}`)
      if (stored === undefined) return false
      if (stored.role === role) return true
      const member = Object.freeze({ user, role, joinedSeq: stored.joinedSeq })
      await this.#store.write(this.#memberOps(conv, member))
      this.#members.set(memberKey(conv, user), member)
      this.#lists.delete(conv)
      return true
    })
  }

  async rename (conv: string, name: string | null): Promise<void> {
    const parsed = requireConvId(conv)
    if (name !== null) requireName(name)
    return await this.#write(conv, async () => {
      const { id: _id, type: _type, name: _old, ...rest } = await this.#requireConv(conv)
      const stored: StoredConv = name === null ? rest : { ...rest, name }
      await this.#store.write([this.#store.put(`c!${conv}`, stored)])
      this.#convs.set(conv, { id: conv, type: parsed.type, ...stored })
    })
  }

  async conversationsOf (user: string): Promise<Membership[]> {
    requireUserName(user)
    const prefix = `u!${user}!`
    const memberships: Membership[] = []
    for await (const [key, { role }] of this.#store.entries<{ role: Role }>(prefixRange(prefix))) {
      memberships.push({ conv: key.slice(prefix.length), role })
    }
    return memberships
  }

  async * allMemberships (): AsyncGenerator<{ conv: string } & Member> {
    for await (const [key, stored] of this.#store.entries<StoredMember>(prefixRange('m!'))) {
      const split = key.lastIndexOf('!')
      yield { conv: key.slice(2, split), user: key.slice(split + 1), role: stored.role, joinedSeq: stored.joinedSeq }
    }
  }

  contactsOf (user: string): Promise<ReadonlySet<string>> {
    if (!isUserName(user)) return Promise.resolve(new Set())
    return this.#contacts.get(user, async () => {
      const contacts = new Set<string>()
      for (const { conv } of await this.conversationsOf(user)) {
        if (parseConvId(conv)?.type === 'channel') continue
        for (const member of await this.#lists.get(conv, () => this.#readMembers(conv))) contacts.add(member.user)
      }
      contacts.delete(user)
      return contacts
    })
  }

  async sharesConversation (a: string, b: string): Promise<boolean> {
    return (await this.contactsOf(a)).has(b)
  }

  async delete (conv: string): Promise<boolean> {
    const parsed = requireConvId(conv)
    return await this.#write(conv, async () => {
      if (await this.#conv(conv) === null) return false
      for (;;) {
        const chunk: string[] = []
        for await (const key of this.#store.keys({ ...prefixRange(`m!${conv}!`), limit: DELETE_CHUNK })) {
          chunk.push(key.slice(`m!${conv}!`.length))
        }
        if (chunk.length === 0) break
        await this.#store.write(chunk.flatMap(user => [this.#store.del(`m!${conv}!${user}`), this.#store.del(`u!${user}!${conv}`)]))
        for (const user of chunk) this.#members.set(memberKey(conv, user), null)
        this.#lists.delete(conv)
        this.#dropContacts(parsed, chunk)
      }
      await this.#store.write([this.#store.del(`c!${conv}`)])
      this.#convs.set(conv, null)
      return true
    })
  }

  async close (): Promise<void> {
    this.#closed = true
    await this.#lock.idle()
    await this.#store.groupCommit.flush()
  }

  #write<T> (conv: string, task: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError('the conversation store is closed'))
    return this.#lock.run(conv, task)
  }

  #conv (conv: string): Promise<Conversation | null> {
    return this.#convs.get(conv, async () => {
      const stored = await this.#store.get<StoredConv>(`c!${conv}`)
      return stored === undefined ? null : { id: conv, type: requireConvId(conv).type, ...stored }
    })
  }

  async #requireConv (conv: string): Promise<Conversation> {
    const found = await this.#conv(conv)
    if (found === null) throw new NotFoundError(`no conversation ${conv}`)
    return found
  }

  async #readMembers (conv: string): Promise<readonly Member[]> {
    const prefix = `m!${conv}!`
    const members: Member[] = []
    for await (const [key, stored] of this.#store.entries<StoredMember>(prefixRange(prefix))) {
      members.push(Object.freeze({ user: key.slice(prefix.length), role: stored.role, joinedSeq: stored.joinedSeq }))
    }
    return members
  }

  #memberOps (conv: string, member: Member): GroupCommitOperation[] {
    return [
      this.#store.put(`m!${conv}!${member.user}`, { role: member.role, joinedSeq: member.joinedSeq }),
      this.#store.put(`u!${member.user}!${conv}`, { role: member.role })
    ]
  }

  /**
   * Joining or leaving a direct or group conversation changes the contacts
   * of everyone in it; run after the write, so a reload sees it.
   */
  async #dropContactsOfConv (parsed: ParsedConvId, changed: string): Promise<void> {
    if (parsed.type === 'channel') return
    const users = (await this.#readMembers(parsed.id)).map(m => m.user)
    this.#dropContacts(parsed, [...users, changed])
  }

  #dropContacts (parsed: ParsedConvId, users: Iterable<string>): void {
    if (parsed.type === 'channel') return
    for (const user of users) this.#contacts.delete(user)
  }
}

function memberKey (conv: string, user: string): string {
  return `${conv} ${user}`
}

function storedConv (meta: ConversationMeta): StoredConv {
  if (meta === null || typeof meta !== 'object') throw new StoreInputError('conversation metadata must be an object')
  const createdBy = requireUserName(meta.createdBy)
  const createdAt = meta.createdAt ?? Date.now()
  if (!Number.isFinite(createdAt)) throw new StoreInputError('createdAt must be a number of ms')
  const stored: StoredConv = { createdBy, createdAt }
  if (meta.name !== undefined) stored.name = requireName(meta.name)
  if (meta.public !== undefined) {
    if (typeof meta.public !== 'boolean') throw new StoreInputError('public must be a boolean')
    stored.public = meta.public
  }
  return stored
}
