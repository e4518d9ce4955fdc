import { randomBytes } from 'node:crypto'
import { StoreError, UserError } from '../errors.js'
import type { GroupCommit, LevelDatabase } from '../storage/index.js'
import { KeyedLock } from '../storage/index.js'
import { defaultScryptParams, hashPassword, needsRehash, verifyPassword, type ScryptParams } from './password-hash.js'
import { checkPassword, checkUserName, isUserName, type AddUserOptions, type Password, type User, type UserStore } from './user-store.js'

export interface LevelUserStoreOptions {
  /** The server's group commit: every write is synced before it resolves. */
  groupCommit: GroupCommit
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

const SECRET_KEY = 'token-signing'

/**
 * UserStore on a sublevel of the server's one level database: users under
 * `account`, the token secret under `secret`. Writes go through the group
 * commit, so `hail user add` has reached the disk when it says so.
 */
export class LevelUserStore implements UserStore {
  readonly #accounts: LevelDatabase
  readonly #secrets: LevelDatabase
  readonly #groupCommit: GroupCommit
  readonly #scrypt: ScryptParams
  readonly #now: () => number
  /** One write at a time per name, so two adds of one name cannot both succeed. */
  readonly #lock = new KeyedLock()
  #secret: Promise<Buffer> | undefined
  /** A hash of nothing, so an unknown user costs one scrypt like a known one. */
  #decoy: Promise<string> | undefined

  /** The store in the `users` sublevel of a server's database, where the server and the CLI both look. */
  static inDatabase (db: LevelDatabase, options: LevelUserStoreOptions): LevelUserStore {
    return new LevelUserStore(db.sublevel('users'), options)
  }

  constructor (db: LevelDatabase, options: LevelUserStoreOptions) {
    if (!options.groupCommit.covers(db)) throw new StoreError('the user store and its group commit must share one database')
    this.#accounts = db.sublevel<string, UserRecord>('account', { valueEncoding: 'json' })
    this.#secrets = db.sublevel<string, string>('secret', { valueEncoding: 'utf8' })
    this.#groupCommit = options.groupCommit
    this.#scrypt = options.scrypt ?? defaultScryptParams
    this.#now = options.now ?? Date.now
  }

  async add (name: string, password: Password, options: AddUserOptions = {}): Promise<User> {
    checkUserName(name)
    const bytes = checkPassword(password)
    const hash = await hashPassword(bytes, this.#scrypt)
    return await this.#lock.run(name, async () => {
      if (await this.#record(name) !== undefined) throw new UserError('HAIL_ERR_USER_EXISTS', `user '${name}' already exists`)
      const record: UserRecord = { created: this.#now(), stamp: newStamp(), hash, admin: options.admin === true }
      await this.#put(name, record)
      return toUser(name, record)
    })
  }

  async setPassword (name: string, password: Password): Promise<void> {
    checkUserName(name)
    const bytes = checkPassword(password)
    const hash = await hashPassword(bytes, this.#scrypt)
    await this.#lock.run(name, async () => {
      const record = await this.#existing(name)
      await this.#put(name, { ...record, stamp: newStamp(), hash })
    })
  }

  async setAdmin (name: string, admin: boolean): Promise<void> {
    checkUserName(name)
    await this.#lock.run(name, async () => {
      const record = await this.#existing(name)
      await this.#put(name, { ...record, admin })
    })
  }

  async delete (name: string): Promise<void> {
    checkUserName(name)
    await this.#lock.run(name, async () => {
      await this.#existing(name)
      await this.#groupCommit.write([{ type: 'del', key: name, sublevel: this.#accounts }])
    })
  }

  async get (name: string): Promise<User | undefined> {
    if (!isUserName(name)) return undefined
    const record = await this.#record(name)
    return record === undefined ? undefined : toUser(name, record)
  }

  async list (): Promise<User[]> {
    const users: User[] = []
    for await (const [name, record] of this.#accounts.iterator() as AsyncIterable<[string, UserRecord]>) {
      users.push(toUser(name, record))
    }
    return users
  }

  async verify (name: string, password: Password): Promise<boolean> {
    const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : password
    const record = isUserName(name) ? await this.#record(name) : undefined
    if (record === undefined) {
      this.#decoy ??= hashPassword(randomBytes(16), this.#scrypt)
      await verifyPassword(bytes, await this.#decoy)
      return false
    }
    if (!await verifyPassword(bytes, record.hash)) return false
    if (needsRehash(record.hash, this.#scrypt)) await this.#rehash(name, record.hash, bytes)
    return true
  }

  signingSecret (): Promise<Buffer> {
    this.#secret ??= this.#loadSecret().catch((err: unknown) => {
      this.#secret = undefined // let a later call try again
      throw err
    })
    return this.#secret
  }

  async #loadSecret (): Promise<Buffer> {
    const stored = await this.#secrets.get(SECRET_KEY) as string | undefined
    if (stored !== undefined) return Buffer.from(stored, 'base64')
    const secret = randomBytes(32)
    await this.#groupCommit.write([{ type: 'put', key: SECRET_KEY, value: secret.toString('base64'), sublevel: this.#secrets }])
    return secret
  }

  /** The cost parameters changed since this hash was made: store one with today's, unless the password changed meanwhile. */
  async #rehash (name: string, oldHash: string, password: Uint8Array): Promise<void> {
    const hash = await hashPassword(password, this.#scrypt)
    await this.#lock.run(name, async () => {
      const record = await this.#record(name)
      if (record?.hash === oldHash) await this.#put(name, { ...record, hash })
    })
  }

  async #record (name: string): Promise<UserRecord | undefined> {
    try {
      return await this.#accounts.get(name) as UserRecord | undefined
    } catch (err) {
      throw new StoreError(`cannot read user '${name}': ${(err as Error).message}`, { cause: err })
    }
  }

  async #existing (name: string): Promise<UserRecord> {
    const record = await this.#record(name)
    if (record === undefined) throw new UserError('HAIL_ERR_NO_USER', `no user '${name}'`)
    return record
  }

  async #put (name: string, record: UserRecord): Promise<void> {
    await this.#groupCommit.write([{ type: 'put', key: name, value: record, sublevel: this.#accounts }])
  }
}

function toUser (name: string, record: UserRecord): User {
  return { name, created: record.created, stamp: record.stamp, admin: record.admin === true }
}

function newStamp (): string {
  return randomBytes(12).toString('base64url')
}
