import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { TokenError, UserError } from '../errors.js'
import { TOKEN_PREFIX, type UserStore } from './user-store.js'

/*
 * Tokens are `hail1.<payload>.<signature>`: the payload base64url JSON, the
 * signature HMAC-SHA256 over `hail1.<payload>` with the store's secret,
 * base64url (TOKEN_PREFIX, kept with the user store, which refuses passwords
 * that start with it).
 */

/** Longest lifetime a token may be given: 30 days. */
export const MAX_TOKEN_TTL_SECONDS = 30 * 24 * 60 * 60

/** What a token says; times are seconds since the epoch, as JWT's NumericDate. */
export interface TokenClaims {
  /** The user. */
  readonly sub: string
  readonly iat: number
  readonly exp: number
  /** Random token id, for logs and a future revocation list. */
  readonly jti: string
  /** The user's stamp when the token was issued (see User.stamp). */
  readonly stp: string
}

export type TokenRejection = 'malformed' | 'bad-signature' | 'expired' | 'no-user' | 'revoked'

export type TokenCheck =
  | { readonly ok: true, readonly claims: TokenClaims }
  | { readonly ok: false, readonly reason: TokenRejection }

export interface IssuedToken {
  readonly token: string
  /** When it stops working, in milliseconds since the epoch. */
  readonly expires: number
}

export interface TokenServiceOptions {
  /** Clock in milliseconds; tests move it to expire tokens without waiting. */
  now?: () => number
}

/** A signature is 32 bytes (43 base64url characters); a payload stays far below this. */
const MAX_TOKEN_LENGTH = 1024
const SHAPE = /^hail1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/

/** Whether a CONNECT password is a token rather than a password. */
export function isToken (password: string | Uint8Array): boolean {
  const head = typeof password === 'string' ? password.slice(0, TOKEN_PREFIX.length) : Buffer.from(password.subarray(0, TOKEN_PREFIX.length)).toString('latin1')
  return head === TOKEN_PREFIX
}

/**
 * Issues and checks signed, expiring tokens that a client presents as its
 * MQTT password instead of the user's password. Nothing is stored per token:
 * the signature proves the server issued it; the user's stamp, looked up at
 * each check, revokes it when the user is deleted or changes password.
 */
export class TokenService {
  readonly #users: UserStore
  readonly #now: () => number

  constructor (users: UserStore, options: TokenServiceOptions = {}) {
    this.#users = users
    this.#now = options.now ?? Date.now
  }

  /** A token for `name`, valid `ttlSeconds` (1 s to 30 days); throws UserError HAIL_ERR_NO_USER or TokenError HAIL_ERR_BAD_TTL. */
  async issue (name: string, ttlSeconds: number): Promise<IssuedToken> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
      throw new TokenError('HAIL_ERR_BAD_TTL', `a token lives 1 second to 30 days, not ${String(ttlSeconds)} seconds`)
    }
    const user = await this.#users.get(name)
    if (user === undefined) throw new UserError('HAIL_ERR_NO_USER', `no user '${name}'`)
    const iat = Math.floor(this.#now() / 1000)
    const claims: TokenClaims = { sub: user.name, iat, exp: iat + ttlSeconds, jti: randomBytes(9).toString('base64url'), stp: user.stamp }
    const signed = TOKEN_PREFIX + Buffer.from(JSON.stringify(claims)).toString('base64url')
    const signature = sign(await this.#users.signingSecret(), signed)
    return { token: `${signed}.${signature.toString('base64url')}`, expires: claims.exp * 1000 }
  }

  /** Check signature, expiry and that the user still exists with the same stamp. */
  async verify (token: string | Uint8Array): Promise<TokenCheck> {
    const text = typeof token === 'string' ? token : Buffer.from(token).toString('latin1')
    const match = text.length <= MAX_TOKEN_LENGTH ? SHAPE.exec(text) : null
    if (match === null) return reject('malformed')
    const [, payload, signature] = match
    const expected = sign(await this.#users.signingSecret(), TOKEN_PREFIX + payload!)
    // The regex fixed the length, so timingSafeEqual gets two 32-byte buffers.
    if (!timingSafeEqual(Buffer.from(signature!, 'base64url'), expected)) return reject('bad-signature')
    const claims = parseClaims(payload!)
    if (claims === undefined) return reject('malformed') // signed by us, so only a bug makes this
    if (claims.exp * 1000 <= this.#now()) return reject('expired')
    const user = await this.#users.get(claims.sub)
    if (user === undefined) return reject('no-user')
    if (user.stamp !== claims.stp) return reject('revoked')
    return { ok: true, claims }
  }
}

function sign (secret: Buffer, text: string): Buffer {
  return createHmac('sha256', secret).update(text).digest()
}

function reject (reason: TokenRejection): TokenCheck {
  return { ok: false, reason }
}

function parseClaims (payload: string): TokenClaims | undefined {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  const c = value as Partial<Record<keyof TokenClaims, unknown>> | null
  if (c === null || typeof c !== 'object') return undefined
  if (typeof c.sub !== 'string' || typeof c.jti !== 'string' || typeof c.stp !== 'string') return undefined
  if (!Number.isSafeInteger(c.iat) || !Number.isSafeInteger(c.exp)) return undefined
  return c as TokenClaims
}
