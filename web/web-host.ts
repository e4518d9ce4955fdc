import type { Registry } from 'prom-client'

/** A call as the dashboard lists it: what the call bridge knows of each running call. */
export interface HostCall {
  readonly id: string
  readonly conv: string
  readonly mode: string
  readonly media: { readonly audio: boolean, readonly video: boolean }
  readonly state: string
  readonly startedAt: number
  readonly answeredAt: number | null
  /** user → device */
  readonly participants: ReadonlyMap<string, string>
}

/**
 * What the web app's HTTP side needs of the server, read at request time
 * (the server opens its stores in listen(), after the routes are made).
 * The assembly's CallServer (server/create-server.ts) is one; web/ names
 * only these shapes, never the broker's modules.
 */
export interface WebHost {
  /** The user store (broker/users): who exists, whether a password is theirs, who is an admin. */
  readonly users: {
    get: (name: string) => Promise<{ readonly name: string, readonly admin: boolean } | undefined>
    verify: (name: string, password: string) => Promise<boolean>
  }
  /** Signed, expiring tokens (broker/users/tokens.ts), the same an MQTT client logs in with. */
  readonly tokens: {
    issue: (name: string, ttlSeconds: number) => Promise<{ readonly token: string, readonly expires: number }>
    verify: (token: string) => Promise<{ readonly ok: true, readonly claims: { readonly sub: string, readonly exp: number } } | { readonly ok: false, readonly reason: string }>
  }
  /** The login backoff MQTT CONNECT uses (broker/users/login-guard.ts), so a guesser gains nothing by switching to HTTP. */
  readonly loginGuard: {
    check: (account: string | undefined, address: string | undefined) => Promise<{ readonly allowed: true } | { readonly allowed: false, readonly retryAfterMs: number }>
    failed: (account: string | undefined, address: string | undefined) => Promise<void>
    succeeded: (account: string) => Promise<void>
  }
  readonly metrics: { readonly registry: Registry }
  readonly config: { readonly files: { readonly maxFileBytes: number } }
  /** The call bridge, for the dashboard's list of calls; absent on a server without calls. */
  readonly calls?: {
    calls: () => readonly HostCall[]
    quality: (id: string) => { loss: number, jitterMs: number, rttMs: number | null } | undefined
  }
}
