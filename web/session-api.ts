import type { IncomingMessage, ServerResponse } from 'node:http'
import { USER_PATTERN } from '../protocol/index.js'
import { bearerToken, fail, json, readJson, type WebRoute } from './http-reply.js'
import type { WebHost } from './web-host.js'

/** Longest password accepted, as the user store's (broker/users/user-store.ts). */
const MAX_PASSWORD_BYTES = 1024

/** How long a token from the sign-in works: a working day; the app renews it while it is open. */
export const SESSION_TTL_SECONDS = 12 * 60 * 60

/** What the app learns about its user at sign-in and on each page load. */
export interface SessionInfo {
  user: string
  admin: boolean
  /** When the token stops working, in ms since the epoch. */
  expires: number
  /** The server's limits the app checks before sending. */
  limits: { maxFileBytes: number }
}

/**
 * The signed-in user of a request (its bearer token), or undefined after a
 * 401 answer. Shared by the session and dashboard routes.
 */
export async function signedIn (host: WebHost, req: IncomingMessage, res: ServerResponse): Promise<{ user: string, expires: number } | undefined> {
  const token = bearerToken(req)
  const check = token === undefined ? undefined : await host.tokens.verify(token)
  if (check?.ok === true) return { user: check.claims.sub, expires: check.claims.exp * 1000 }
  fail(res, 401, 'HAIL_ERR_NOT_AUTHORIZED', check === undefined ? 'sign in first' : `the session is over (${check.reason}): sign in again`, { 'www-authenticate': 'Bearer' })
  return undefined
}

/**
 * The app's session, over HTTP on the same origin as the page:
 *
 * - `POST /api/session` `{ user, password }` signs in: the password is
 *   checked by the user store behind the server's login guard (the same
 *   backoff as MQTT CONNECT), and the answer carries a token that expires;
 *   the page keeps only that token and logs in to MQTT with it.
 * - `GET /api/session` (Bearer) says who the token is and what they may do.
 * - `POST /api/session/renew` (Bearer) trades a valid token for a fresh one.
 *
 * Sign-out is the page forgetting its token: tokens are signed, not stored,
 * and a password change revokes them all (`hail user passwd`).
 */
export function sessionRoutes (host: WebHost): Map<string, WebRoute> {
  const info = async (user: string, expires: number): Promise<SessionInfo | undefined> => {
    const record = await host.users.get(user)
    if (record === undefined) return undefined
    return { user, admin: record.admin, expires, limits: { maxFileBytes: host.config.files.maxFileBytes } }
  }

  const signIn: WebRoute = async (req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') return await whoAmI(req, res)
    if (req.method !== 'POST') return fail(res, 405, 'HAIL_ERR_BAD_REQUEST', 'POST { user, password } here', { allow: 'GET, POST' })
    const body = await readJson(req, res, 4096) as { user?: unknown, password?: unknown } | undefined
    if (body === undefined) return
    const { user, password } = body
    if (typeof user !== 'string' || typeof password !== 'string' || password === '' || Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
      return fail(res, 400, 'HAIL_ERR_BAD_REQUEST', 'give a user name and a password')
    }
    const account = USER_PATTERN.test(user) ? user : undefined
    const address = req.socket.remoteAddress
    const verdict = await host.loginGuard.check(account, address)
    if (!verdict.allowed) {
      const seconds = Math.ceil(verdict.retryAfterMs / 1000)
      return fail(res, 429, 'HAIL_ERR_RATE_LIMITED', `too many failed sign-ins: try again in ${seconds} s`, { 'retry-after': seconds })
    }
    // An unknown or malformed name costs one hash like a known one (UserStore.verify).
    if (account === undefined || !await host.users.verify(account, password)) {
      await host.loginGuard.failed(account, address)
      return fail(res, 401, 'HAIL_ERR_NOT_AUTHORIZED', 'wrong user name or password')
    }
    await host.loginGuard.succeeded(account)
    const { token, expires } = await host.tokens.issue(account, SESSION_TTL_SECONDS)
    const session = await info(account, expires)
    if (session === undefined) return fail(res, 401, 'HAIL_ERR_NOT_AUTHORIZED', 'the user was deleted')
    json(res, 200, { ...session, token })
  }

  const whoAmI: WebRoute = async (req, res) => {
    const who = await signedIn(host, req, res)
    if (who === undefined) return
    const session = await info(who.user, who.expires)
    if (session === undefined) return fail(res, 401, 'HAIL_ERR_NOT_AUTHORIZED', 'the user was deleted')
    json(res, 200, session)
  }

  const renew: WebRoute = async (req, res) => {
    if (req.method !== 'POST') return fail(res, 405, 'HAIL_ERR_BAD_REQUEST', 'POST here with the token to renew', { allow: 'POST' })
    const who = await signedIn(host, req, res)
    if (who === undefined) return
    const { token, expires } = await host.tokens.issue(who.user, SESSION_TTL_SECONDS)
    const session = await info(who.user, expires)
    if (session === undefined) return fail(res, 401, 'HAIL_ERR_NOT_AUTHORIZED', 'the user was deleted')
    json(res, 200, { ...session, token })
  }

  return new Map([['/api/session', signIn], ['/api/session/renew', renew]])
}
