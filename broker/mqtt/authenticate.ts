/** What a client presented in CONNECT. */
export interface Credentials {
  readonly clientId: string
  readonly username: string | undefined
  readonly password: Buffer | undefined
  readonly remoteAddress: string | undefined
}

/**
 * CONNACK return codes a refusal may carry (MQTT 3.1.1 §3.2.2.3):
 * 2 identifier rejected, 4 bad user name or password, 5 not authorized.
 */
export type RefusalCode = 2 | 4 | 5

export type AuthResult =
  | { readonly ok: true, readonly user: string | null }
  | { readonly ok: false, readonly returnCode: RefusalCode, readonly reason: string }

/** Decides who a connecting client is. The IM layer supplies one with real users. */
export type Authenticate = (credentials: Credentials) => Promise<AuthResult>

/**
 * The built-in policy when no authenticate hook is given. Anonymous mode lets
 * everyone in as anonymous: a user name nobody checked is not an identity,
 * so ACL `user` sections and `%u` never apply to it. Otherwise nobody gets in.
 */
export function builtinAuthenticate (allowAnonymous: boolean): Authenticate {
  return async () => allowAnonymous
    ? { ok: true, user: null }
    : { ok: false, returnCode: 5, reason: 'anonymous access is off and no authentication is configured' }
}
