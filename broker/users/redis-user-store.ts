import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { UserError } from '../errors.js'
import { RedisKeyspace, type RedisKeyspaceOptions, type RedisScript } from '../storage/index.js'
import { defaultScryptParams, hashPassword, needsRehash, verifyPassword, type ScryptParams } from './password-hash.js'
import { checkPassword, checkUserName, isUserName, type AddUserOptions, type Password, type User, type UserStore } from './user-store.js'

export interface RedisUserStoreOptions extends RedisKeyspaceOptions {
  /** Cost of new hashes; older hashes keep theirs and are redone at the next good login. */
  scrypt?: ScryptParams
  /** Clock for `created`; tests may fix it. */
  now?: () => number
}

/** What is stored per user, under its name. */
interface UserRecord {
  created: number
  stamp: string
  hash: string
  /** Absent in records written before the flag existed: not an admin. */
  admin?: boolean
}

// Keys: {prefix}users         hash: name -> UserRecord JSON
//       {prefix}users:secret  the token signing secret, base64
// Changes of an existing user compare and set the whole record in one
// script, so two nodes changing one user never lose one of the writes.
const REPLACE = `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return -1 end
if stored ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`

const SECRET = `
local stored = redis.call('GET', KEYS[1])
if stored then return stored end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`

/**
 * UserStore on Redis, shared by every node: a user added with `hail user add`
 * on one node logs in on all, and all sign and check tokens with one secret
 * (the first node to ask makes it). Writes resolve once Redis replied.
 */
export class RedisUserStore implements UserStore {
  readonly #space: RedisKeyspace
  readonly #replace: RedisScript
  readonly #secretScript: RedisScript
  readonly #scrypt: ScryptParams
  readonly #now: () => number
  #secret: Promise<Buffer> | undefined
  /** A hash of nothing, so an unknown user costs one scrypt like a known one. */
  #decoy: Promise<string> | undefined

  /** `client` is the caller's, who closes it; the store only waits for its writes in close(). */
  constructor (client: Redis, options: RedisUserStoreOptions = {}) {
    this.#space = new RedisKeyspace(client, 'user store', options)
    this.#replace = this.#space.script(REPLACE, 1)
    this.#secretScript = this.#space.script(SECRET, 1)
    this.#scrypt = options.scrypt ?? defaultScryptParams
    this.#now = options.now ?? Date.now
  }

  async add (name: string, password: Password, options: AddUserOptions = {}): Promise<User> {
    checkUserName(name)
    const hash = await hashPassword(checkPassword(password), this.#scrypt)
    const record: UserRecord = { created: this.#now(), stamp: newStamp(), hash, admin: options.admin === true }
    const added = await this.#space.write(`add user '${name}'`, () => this.#space.client.hsetnx(this.#users, name, JSON.stringify(record)))
    if (added === 0) throw new UserError('HAIL_ERR_USER_EXISTS', `user '${name}' already exists`)
    return toUser(name, record)
  }

  async setPassword (name: string, password: Password): Promise<void> {
    checkUserName(name)
    const hash = await hashPassword(checkPassword(password), this.#scrypt)
    await this.#change(name, (record) => ({ ...record, stamp: newStamp(), hash }))
  }

  async setAdmin (name: string, admin: boolean): Promise<void> {
    checkUserName(name)
    await this.#change(name, (record) => ({ ...record, admin }))
  }

  async delete (name: string): Promise<void> {
    checkUserName(name)
    const removed = await this.#space.write(`delete user '${name}'`, () => this.#space.client.hdel(this.#users, name))
    if (removed === 0) throw new UserError('HAIL_ERR_NO_USER', `no user '${name}'`)
  }

  async get (name: string): Promise<User | undefined> {
    if (!isUserName(name)) return undefined
    const stored = await this.#stored(name)
    return stored === null ? undefined : toUser(name, JSON.parse(stored) as UserRecord)
  }

  async list (): Promise<User[]> {
    const stored = await this.#space.read('the users', () => this.#space.client.hgetall(this.#users))
    return Object.keys(stored).sort().map(name => toUser(name, JSON.parse(stored[name]) as UserRecord))
  }

  async verify (name: string, password: Password): Promise<boolean> {
    const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : password
    const stored = isUserName(name) ? await this.#stored(name) : null
    if (stored === null) {
      this.#decoy ??= hashPassword(randomBytes(16), this.#scrypt)
      await verifyPassword(bytes, await this.#decoy)
      return false
    }
    const record = JSON.parse(stored) as UserRecord
    if (!await verifyPassword(bytes, record.hash)) return false
    if (needsRehash(record.hash, this.#scrypt)) {
      // only if nobody changed the user meanwhile: a new password wins over the rehash
      const rehashed: UserRecord = { ...record, hash: await hashPassword(bytes, this.#scrypt) }
      await this.#space.write(`rehash the password of '${name}'`, () => this.#replace([this.#users], [name, stored, JSON.stringify(rehashed)]))
    }
    return true
  }

  signingSecret (): Promise<Buffer> {
    this.#secret ??= this.#space.write('store the token signing secret', async () => {
      const stored = await this.#secretScript([this.#space.key('users', 'secret')], [randomBytes(32).toString('base64')])
      return Buffer.from(String(stored), 'base64')
    }).catch((err: unknown) => {
      this.#secret = undefined // let a later call try again
      throw err
    })
    return this.#secret
  }

  /** Waits for the writes in flight; leaves the client open. */
  async close (): Promise<void> {
    await this.#space.close()
  }

  get #users (): string {
    return this.#space.key('users')
  }

  async #stored (name: string): Promise<string | null> {
    return await this.#space.read(`user '${name}'`, () => this.#space.client.hget(this.#users, name))
  }

  /** Replaces the record with `change(record)`, again from the top if another write came between. */
  async #change (name: string, change: (record: UserRecord) => UserRecord): Promise<void> {
    for (;;) {
      const stored = await this.#stored(name)
      if (stored === null) throw new UserError('HAIL_ERR_NO_USER', `no user '${name}'`)
      const next = JSON.stringify(change(JSON.parse(stored) as UserRecord))
      const result = await this.#space.write(`change user '${name}'`, () => this.#replace([this.#users], [name, stored, next]))
      if (result === 1) return
      if (result === -1) throw new UserError('HAIL_ERR_NO_USER', `no user '${name}'`)
    }
  }
}

function toUser (name: string, record: UserRecord): User {
  return { name, created: record.created, stamp: record.stamp, admin: record.admin === true }
}

function newStamp (): string {
  return randomBytes(12).toString('base64url')
}
