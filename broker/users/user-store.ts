import { UserError } from '../errors.js'

/**
 * What every token starts with (tokens.ts): it lets the authenticator tell
 * a token from a password, so no password may start with it, and it names
 * the token format's version.
 */
export const TOKEN_PREFIX = 'hail1.'

/** A password as typed (a string, hashed as UTF-8) or as it came in CONNECT (bytes). */
export type Password = string | Uint8Array

/** A user as stored; the password hash never leaves the store. */
export interface User {
  readonly name: string
  /** When the user was added, in milliseconds since the epoch. */
  readonly created: number
  /**
   * Random, and new whenever the user is added or its password set. Tokens
   * carry it, so a password change revokes them, and so does deleting the
   * user, even if someone adds the same name again.
   */
  readonly stamp: string
  /**
   * May see what only operators see: the web app's dashboard, `$SYS`.
   * Not carried in tokens: every check reads the store, so turning it off
   * takes effect at the next request.
   */
  readonly admin: boolean
}

export interface AddUserOptions {
  /** Default false. */
  admin?: boolean
}

/**
 * The accounts that may log in. The embedded implementation is
 * LevelUserStore; RedisUserStore serves several nodes, and both run the
 * same abstract test suite (test/broker/users/user-store.abstract.ts).
 */
export interface UserStore {
  /** Add a user; throws UserError HAIL_ERR_USER_EXISTS, HAIL_ERR_BAD_NAME or HAIL_ERR_BAD_PASSWORD. */
  add: (name: string, password: Password, options?: AddUserOptions) => Promise<User>
  /** Grant or take the admin flag; the password and stamp stay. Throws HAIL_ERR_NO_USER. */
  setAdmin: (name: string, admin: boolean) => Promise<void>
  /** Replace a user's password (and stamp); throws HAIL_ERR_NO_USER or HAIL_ERR_BAD_PASSWORD. */
  setPassword: (name: string, password: Password) => Promise<void>
  /** Remove a user; throws HAIL_ERR_NO_USER. */
  delete: (name: string) => Promise<void>
  /** The user, or undefined; a malformed name is simply not a user. */
  get: (name: string) => Promise<User | undefined>
  /** Every user, by name. */
  list: () => Promise<User[]>
  /**
   * Whether `password` is this user's. An unknown user costs as much as a
   * known one (no timing oracle) and yields false, as does a malformed name.
   */
  verify: (name: string, password: Password) => Promise<boolean>
  /** The 32-byte secret that signs this store's tokens, made on first use and kept with the users. */
  signingSecret: () => Promise<Buffer>
}

/**
 * Lowercase, and none of '/', ':', '+', '#': client ids are `{user}/{device}`,
 * conversation ids embed user names, and a name must never be a topic wildcard.
 */
export const USER_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/

/** Longest password accepted, in bytes; MQTT allows 65,535, nobody types more than this. */
export const MAX_PASSWORD_BYTES = 1024

export function isUserName (name: unknown): name is string {
  return typeof name === 'string' && USER_NAME.test(name)
}

/** Throws UserError HAIL_ERR_BAD_NAME, saying which rule `name` breaks. */
export function checkUserName (name: unknown): asserts name is string {
  if (isUserName(name)) return
  const shown = typeof name === 'string' ? `'${name}'` : String(name)
  const why = typeof name !== 'string' || name === ''
    ? 'a user name is 1-64 characters'
    : /[A-Z]/.test(name)
      ? 'user names are lowercase'
      : name.length > 64
        ? 'a user name is at most 64 characters'
        : 'a user name takes a-z, 0-9, and _ . - after the first character'
  throw new UserError('HAIL_ERR_BAD_NAME', `bad user name ${shown}: ${why}`)
}

/** The password's bytes; throws UserError HAIL_ERR_BAD_PASSWORD if it is empty, too long or looks like a token. */
export function checkPassword (password: Password): Buffer {
  const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : Buffer.from(password)
  if (bytes.length === 0) throw new UserError('HAIL_ERR_BAD_PASSWORD', 'the password is empty')
  if (bytes.length > MAX_PASSWORD_BYTES) throw new UserError('HAIL_ERR_BAD_PASSWORD', `the password is longer than ${MAX_PASSWORD_BYTES} bytes`)
  // The authenticator takes anything starting with the prefix for a token.
  if (bytes.subarray(0, TOKEN_PREFIX.length).toString('latin1') === TOKEN_PREFIX) {
    throw new UserError('HAIL_ERR_BAD_PASSWORD', `a password may not start with '${TOKEN_PREFIX}', which marks a token`)
  }
  return bytes
}
