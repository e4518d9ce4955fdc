import type { Registry } from 'prom-client'
import type { LoginGuard, TokenService, UserStore } from '../broker/index.js'

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
 * A HailServer with calls (bridge/create-server.ts) is one.
 */
export interface WebHost {
  readonly users: Pick<UserStore, 'get' | 'verify'>
  readonly tokens: Pick<TokenService, 'issue' | 'verify'>
  readonly loginGuard: Pick<LoginGuard, 'check' | 'failed' | 'succeeded'>
  readonly metrics: { readonly registry: Registry }
  readonly config: { readonly files: { readonly maxFileBytes: number } }
  /** The call bridge, for the dashboard's list of calls; absent on a server without calls. */
  readonly calls?: {
    calls: () => readonly HostCall[]
    quality: (id: string) => { loss: number, jitterMs: number, rttMs: number | null } | undefined
  }
}
