import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { isUserName, parseConvId, requireConvId, requireUserName } from './conv-id.js'
import {
  type Conversation, type ConversationMeta, type ConversationStore, type Member, type MemberInput, type Membership, type Role
} from './conversation-store.js'
import { memberOf, requireAdmissible, requireName, requireRole } from './conversation-input.js'
import { NotFoundError, StoreError, StoreInputError } from './errors.js'
import { RedisKeyspace, type RedisKeyspaceOptions, type RedisScript } from '../../storage/index.js'

// Keys (conv ids and user names hold only [a-z0-9_.:-]):
//   {prefix}conv:{conv}      hash: createdBy, createdAt, name?, public? ('1'/'0'), nonce (of the create)
//   {prefix}conv:{conv}:m    hash: user -> "{role} {joinedSeq}"
//   {prefix}user:{user}:c    hash: conv -> role            (the user's side, same script)
//   {prefix}convs            sorted set of every conv id, score 0 (walked in id order)
// Every write is one script, so both sides of a membership change together;
// nothing is cached in this process, so every node answers from Redis alike.
const DELETE_CHUNK = 1000
const WALK_PAGE = 100

// ARGV: conv, nonce, field count n, n field/value pairs, then user, role, joinedSeq per member.
// The nonce tells this very call, resent by ioredis after a lost reply, from another create.
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'nonce') == ARGV[2] then return 1 end
  return 0
end
local n = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'nonce', ARGV[2], unpack(ARGV, 4, 3 + 2 * n))
redis.call('ZADD', KEYS[3], 0, ARGV[1])
local a = 4 + 2 * n
for k = 4, #KEYS do
  redis.call('HSET', KEYS[2], ARGV[a], ARGV[a + 1] .. ' ' .. ARGV[a + 2])
  redis.call('HSET', KEYS[k], ARGV[1], ARGV[a + 1])
  a = a + 3
end
return 1
`

const ADD = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3] .. ' ' .. ARGV[4]) == 0 then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1
`

const REMOVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`

const SET_ROLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local stored = redis.call('HGET', KEYS[2], ARGV[2])
if not stored then return 0 end
local joined = string.sub(stored, string.find(stored, ' ', 1, true) + 1)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ' ' .. joined)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1
`

const RENAME = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[1] == 'del' then redis.call('HDEL', KEYS[1], 'name') else redis.call('HSET', KEYS[1], 'name', ARGV[2]) end
return 1
`

// Removes up to ARGV[2] members (and their side); the conversation itself
// only once none is left. User keys are built here: KEYS cannot name them
// before the members are read.
const DELETE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local cursor = '0'
local removed = 0
repeat
  local reply = redis.call('HSCAN', KEYS[2], cursor, 'COUNT', ARGV[2])
  cursor = reply[1]
  for i = 1, #reply[2], 2 do
    local user = reply[2][i]
    if redis.call('HDEL', KEYS[2], user) == 1 then
      redis.call('HDEL', ARGV[3] .. user .. ':c', ARGV[1])
      removed = removed + 1
    end
  end
until cursor == '0' or removed >= tonumber(ARGV[2])
if redis.call('HLEN', KEYS[2]) > 0 then return 1 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 0
`

export type RedisConversationStoreOptions = RedisKeyspaceOptions

/**
 * Conversations on Redis, for several nodes sharing it. Unlike the level
 * store it keeps no cache: member() is one HGET, contactsOf() two round
 * trips, and what one node writes every node reads at once.
 */
export class RedisConversationStore implements ConversationStore {
  readonly #space: RedisKeyspace
  readonly #create: RedisScript
  readonly #add: RedisScript
  readonly #remove: RedisScript
  readonly #setRole: RedisScript
  readonly #rename: RedisScript
  readonly #deleteChunk: RedisScript

  constructor (client: Redis, options: RedisConversationStoreOptions = {}) {
    this.#space = new RedisKeyspace(client, 'conversation store', options)
    this.#create = this.#space.script(CREATE)
    this.#add = this.#space.script(ADD, 3)
    this.#remove = this.#space.script(REMOVE, 3)
    this.#setRole = this.#space.script(SET_ROLE, 3)
    this.#rename = this.#space.script(RENAME, 1)
    this.#deleteChunk = this.#space.script(DELETE, 3)
  }

  async create (conv: string, meta: ConversationMeta, members: MemberInput[]): Promise<boolean> {
    const parsed = requireConvId(conv)
    const fields = storedFields(meta)
    const inputs = members.map(memberOf)
    const users = new Set(inputs.map(m => m.user))
    if (users.size !== inputs.length) throw new StoreInputError(`a member is listed twice in ${conv}`)
    for (const user of users) requireAdmissible(parsed, user)
    const keys = [this.#conv(conv), this.#members(conv), this.#space.key('convs'), ...inputs.map(m => this.#userConvs(m.user))]
    const args = [conv, randomBytes(9).toString('base64url'), fields.length / 2, ...fields, ...inputs.flatMap(m => [m.user, m.role, String(m.joinedSeq)])]
    return await this.#space.write(`create ${conv}`, async () => await this.#create(keys, args) === 1)
  }

  async get (conv: string): Promise<Conversation | undefined> {
    const parsed = parseConvId(conv)
    if (parsed === null) return undefined
    const stored = await this.#space.read(conv, () => this.#space.client.hgetall(this.#conv(conv)))
    if (stored.createdBy === undefined) return undefined
    const found: Conversation = { id: conv, type: parsed.type, createdBy: stored.createdBy, createdAt: Number(stored.createdAt) }
    if (stored.name !== undefined) found.name = stored.name
    if (stored.public !== undefined) found.public = stored.public === '1'
    return found
  }

  async members (conv: string): Promise<Member[]> {
    requireConvId(conv)
    const stored = await this.#space.read(`the members of ${conv}`, () => this.#space.client.hgetall(this.#members(conv)))
    return Object.keys(stored).sort().map(user => memberFrom(user, stored[user]))
  }

  /** Undefined also for a malformed conversation id or user name: nobody is a member of those. */
  async member (conv: string, user: string): Promise<Member | undefined> {
    if (!isUserName(user) || parseConvId(conv) === null) return undefined
    const stored = await this.#space.read(`a member of ${conv}`, () => this.#space.client.hget(this.#members(conv), user))
    return stored === null ? undefined : memberFrom(user, stored)
  }

  async addMember (conv: string, input: MemberInput): Promise<boolean> {
    const parsed = requireConvId(conv)
    const member = memberOf(input)
    requireAdmissible(parsed, member.user)
    const keys = [this.#conv(conv), this.#members(conv), this.#userConvs(member.user)]
    return await this.#changed(conv, `add ${member.user} to ${conv}`, () => this.#add(keys, [conv, member.user, member.role, member.joinedSeq]))
  }

  async removeMember (conv: string, user: string): Promise<boolean> {
    requireConvId(conv)
    requireUserName(user)
    const keys = [this.#conv(conv), this.#members(conv), this.#userConvs(user)]
    return await this.#changed(conv, `remove ${user} from ${conv}`, () => this.#remove(keys, [conv, user]))
  }

  async setRole (conv: string, user: string, role: Role): Promise<boolean> {
    requireConvId(conv)
    requireUserName(user)
    requireRole(role)
    const keys = [this.#conv(conv), this.#members(conv), this.#userConvs(user)]
    return await this.#changed(conv, `set the role of ${user} in ${conv}`, () => this.#setRole(keys, [conv, user, role]))
  }

  async rename (conv: string, name: string | null): Promise<void> {
    requireConvId(conv)
    if (name !== null) requireName(name)
    await this.#changed(conv, `rename ${conv}`, () => this.#rename([this.#conv(conv)], name === null ? ['del'] : ['set', name]))
  }

  async conversationsOf (user: string): Promise<Membership[]> {
    requireUserName(user)
    const stored = await this.#space.read(`the conversations of ${user}`, () => this.#space.client.hgetall(this.#userConvs(user)))
    return Object.keys(stored).sort().map(conv => ({ conv, role: stored[conv] as Role }))
  }

  async * allMemberships (): AsyncGenerator<{ conv: string } & Member> {
    let from = '-'
    for (;;) {
      const convs = await this.#space.read('the conversations', () =>
        this.#space.client.zrangebylex(this.#space.key('convs'), from, '+', 'LIMIT', 0, WALK_PAGE))
      for (const conv of convs) {
        for (const member of await this.members(conv)) yield { conv, ...member }
      }
      if (convs.length < WALK_PAGE) return
      from = `(${convs[convs.length - 1]}`
    }
  }

  async contactsOf (user: string): Promise<ReadonlySet<string>> {
    const contacts = new Set<string>()
    if (!isUserName(user)) return contacts
    const convs = (await this.conversationsOf(user)).map(m => m.conv).filter(conv => parseConvId(conv)?.type !== 'channel')
    if (convs.length === 0) return contacts
    const pipeline = this.#space.client.pipeline()
    for (const conv of convs) pipeline.hkeys(this.#members(conv))
    const replies = await this.#space.read(`the contacts of ${user}`, () => pipeline.exec())
    for (const [err, users] of replies ?? []) {
      if (err !== null) throw new StoreError(`cannot read the contacts of ${user}: ${err.message}`, { cause: err })
      for (const other of users as string[]) contacts.add(other)
    }
    contacts.delete(user)
    return contacts
  }

  async sharesConversation (a: string, b: string): Promise<boolean> {
    return (await this.contactsOf(a)).has(b)
  }

  async delete (conv: string): Promise<boolean> {
    requireConvId(conv)
    const keys = [this.#conv(conv), this.#members(conv), this.#space.key('convs')]
    const args = [conv, DELETE_CHUNK, this.#space.rawPrefix + 'user:']
    return await this.#space.write(`delete ${conv}`, async () => {
      for (;;) {
        const more = await this.#deleteChunk(keys, args)
        if (more === -1) return false
        if (more === 0) return true
      }
    })
  }

  async close (): Promise<void> {
    await this.#space.close()
  }

  /** Runs a write script that answers -1 for a missing conversation, else 1 (changed) or 0. */
  async #changed (conv: string, what: string, run: () => Promise<unknown>): Promise<boolean> {
    const result = await this.#space.write(what, run)
    if (result === -1) throw new NotFoundError(`no conversation ${conv}`)
    return result === 1
  }

  #conv (conv: string): string {
    return this.#space.key('conv', conv)
  }

  #members (conv: string): string {
    return this.#space.key('conv', conv, 'm')
  }

  #userConvs (user: string): string {
    return this.#space.key('user', user, 'c')
  }
}

function memberFrom (user: string, stored: string): Member {
  const space = stored.indexOf(' ')
  return Object.freeze({ user, role: stored.slice(0, space) as Role, joinedSeq: Number(stored.slice(space + 1)) })
}

/** The conversation's hash fields, as [field, value, ...]. */
function storedFields (meta: ConversationMeta): string[] {
  if (meta === null || typeof meta !== 'object') throw new StoreInputError('conversation metadata must be an object')
  const createdBy = requireUserName(meta.createdBy)
  const createdAt = meta.createdAt ?? Date.now()
  if (!Number.isFinite(createdAt)) throw new StoreInputError('createdAt must be a number of ms')
  const fields = ['createdBy', createdBy, 'createdAt', String(createdAt)]
  if (meta.name !== undefined) fields.push('name', requireName(meta.name))
  if (meta.public !== undefined) {
    if (typeof meta.public !== 'boolean') throw new StoreInputError('public must be a boolean')
    fields.push('public', meta.public ? '1' : '0')
  }
  return fields
}
