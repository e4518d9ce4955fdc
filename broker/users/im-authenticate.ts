import type { Authenticate, AuthResult } from '../mqtt/authenticate.js'
import { LoginGuard } from './login-guard.js'
import { isToken, type TokenService } from './tokens.js'
import { isUserName, type UserStore } from './user-store.js'

/** The device part of a client id `{user}/{device}`. */
export const DEVICE_NAME = /^[A-Za-z0-9_.-]{1,64}$/

export interface ImAuthenticateOptions {
  users: UserStore
  tokens: TokenService
  /** Backoff of failed logins; a fresh one with its defaults when not given. */
  guard?: LoginGuard
  /** Let clients without a user name in, as anonymous (user null): the ACL file alone decides what they may do. */
  allowAnonymous?: boolean
}

/**
 * Who may connect when Hail keeps the users: a user name with its password
 * or one of its tokens, from a client id `{user}/{device}` of that same
 * user. Binding the client id to the user means nobody can take over, or
 * read the stored session of, another user's device.
 *
 * With `allowAnonymous`, a user name that is no account connects as an
 * anonymous client (the ACL file decides what it may do, as for a client
 * with no user name); accounts are checked as ever.
 *
 * CONNACK return codes (MQTT 3.1.1 §3.2.2.3, Table 3.1 [MQTT-3.2.2-6]):
 * 4 "bad user name or password" for wrong credentials, whether or not the
 * user exists; 5 "not authorized" for a client id that is not the user's, for
 * anonymous clients when they are not allowed, and while the login guard
 * makes an account or address wait (its reason, logged, says how long).
 */
export function imAuthenticate (options: ImAuthenticateOptions): Authenticate {
  const { users, tokens, allowAnonymous = false } = options
  const guard = options.guard ?? new LoginGuard()

  const anonymous = (clientId: string): AuthResult => {
    // '/' marks `{user}/{device}`: an anonymous client holding one could take over that user's session.
    if (clientId.includes('/')) return refuse(5, `an anonymous client id may not contain '/' (client id '${clientId}')`)
    return { ok: true, user: null }
  }

  return async ({ clientId, username, password, remoteAddress }): Promise<AuthResult> => {
    if (username === undefined) {
      if (!allowAnonymous) return refuse(5, 'anonymous access is off: connect with a user name and password or token')
      return anonymous(clientId)
    }
    // Many clients send a user name whatever the broker (mosquitto_pub -u, device
    // firmware). With anonymous access on, a name that is no account is such a
    // client: it is let in as anonymous, whatever its password. Accounts still
    // need theirs. (So an anonymous broker tells which names exist; one that
    // allows anonymous clients keeps no secrets of that kind.) A store that
    // cannot answer counts the name as an account: the strict path.
    if (allowAnonymous && !(await exists(users, isUserName(username) ? username : undefined))) return anonymous(clientId)

    // Decided from the CONNECT alone, before anything costs a hash.
    const slash = clientId.indexOf('/')
    if (slash < 0 || clientId.slice(0, slash) !== username || !DEVICE_NAME.test(clientId.slice(slash + 1))) {
      return refuse(5, `client id '${clientId}' is not ${username}/{device} (device: 1-64 of A-Z a-z 0-9 _ . -)`)
    }

    // Only a well-formed name can be an account, and only one keeps the guard's memory small.
    const account = isUserName(username) ? username : undefined
    const verdict = await guard.check(account, remoteAddress)
    if (!verdict.allowed) {
      return refuse(5, `too many failed logins for this ${verdict.by}: next attempt in ${Math.ceil(verdict.retryAfterMs / 1000)} s`)
    }
    if (password === undefined || password.length === 0) return refuse(4, 'no password')

    let good: boolean
    let how: string
    if (isToken(password)) {
      const check = await tokens.verify(password)
      good = check.ok && check.claims.sub === username
      how = check.ok ? (good ? 'token' : 'token of another user') : check.reason === 'no-user' ? 'token: no such user' : `token ${check.reason}`
    } else {
      good = account !== undefined && await users.verify(account, password)
      how = 'password'
    }
    if (!good) {
      await guard.failed(account, remoteAddress)
      // For the log only: the client gets CONNACK 4 either way, so it learns
      // nothing about which names exist; asked after the hash, so no timing
      // tells either. A store that cannot answer leaves the reason as it was.
      if (how === 'password' && !(await exists(users, account))) how = 'password: no such user'
      return refuse(4, `bad ${how}`)
    }
    await guard.succeeded(username)
    return { ok: true, user: username }
  }
}

async function exists (users: UserStore, account: string | undefined): Promise<boolean> {
  if (account === undefined) return false
  return await users.get(account).then((user) => user !== undefined, () => true)
}

function refuse (returnCode: 4 | 5, reason: string): AuthResult {
  return { ok: false, returnCode, reason }
}
