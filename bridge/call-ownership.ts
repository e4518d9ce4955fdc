import type { Caller } from '../broker/index.js'
import type { Party, Span } from './call.js'
import type { CallMedia, CallMode } from '../protocol/index.js'

/** What another node needs to know of a call to authorize its parties and, if its owner dies, end it. */
export interface CallFacts {
  id: string
  conv: string
  mode: CallMode
  media: CallMedia
  caller: Party
  users: string[]
  startedAt: number
  answeredAt: number | null
  spans: Span[]
}

export type CallAction = 'accept' | 'join' | 'reject' | 'hangup'

/** What the owner of a call does for requests forwarded from other nodes (the bridge implements it). */
export interface OwnerHandlers {
  act: (caller: Caller, callId: string, action: CallAction) => Promise<unknown>
  signal: (caller: Caller, topic: string, payload: Buffer) => Promise<void>
  drop: (caller: Caller, callId: string) => void
  /** The owner of this call died (its lease expired); this node won the job of ending it. */
  lost: (facts: CallFacts) => Promise<void>
}

/** A message on the emitter: what Hail emits always has a payload; the emitter's own type does not say so. */
export interface EmitterMessage { topic: string, payload?: Buffer | string }

/** The part of aedes' emitter (mqemitter-redis in Redis mode) used to reach other nodes. */
export interface CallEmitter {
  on: (topic: string, listener: (message: EmitterMessage, done: () => void) => void, done?: () => void) => unknown
  removeListener: (topic: string, listener: (message: EmitterMessage, done: () => void) => void, done?: () => void) => unknown
  emit: (message: { topic: string, payload: Buffer }, done?: (err?: Error) => void) => unknown
}

/**
 * Which node runs a call's media. One node owns each call: it holds the
 * room and answers its signals. LocalCallOwnership: one process, every call
 * is ours and nobody else is asked. RedisCallOwnership
 * (redis-call-ownership.ts): a lease per call in Redis, and the other nodes
 * forward what their devices send to the owner.
 */
export interface CallOwnership {
  /** Take the call for this node; false when another node holds it. */
  claim: (callId: string) => Promise<boolean>
  /** Whether this node holds the call. */
  owns: (callId: string) => boolean
  release: (callId: string) => Promise<void>
  /** Start hearing other nodes over aedes' emitter (once the broker runs). */
  start: (emitter: CallEmitter, handlers: OwnerHandlers) => Promise<void>
  /** An owned call changed (parties, answer, spans); tell the other nodes. */
  update: (facts: CallFacts) => void
  /** Whether `user` is a party to a call another node owns (from what this node heard). */
  isRemoteParty: (callId: string, user: string) => boolean
  /** Calls other nodes own that `user` is a party to. */
  remoteCallsOf: (user: string) => string[]
  /** Hand a command to the call's owner and return its answer; undefined when no other node owns the call. */
  forwardAct: (caller: Caller, callId: string, action: CallAction) => Promise<{ result: unknown } | undefined>
  /** Hand a signal to the call's owner; false when no other node owns the call. */
  forwardSignal: (caller: Caller, callId: string, topic: string, payload: Buffer) => Promise<boolean>
  /** Tell the call's owner that a party's device vanished. */
  forwardDrop: (caller: Caller, callId: string) => void
  /** Who is in an owned call now (accepted or joined; [] once it ended), so every node sees them busy. */
  inCall: (callId: string, users: string[]) => void
  /** The live call, run by another node, that `user` is in (accepted or joined), if any. */
  busyCallOf: (user: string) => Promise<string | undefined>
  /** Before `user` accepts or joins an owned call, mark them in it at once; returns the other live call they are in instead, if any. */
  enterCall: (callId: string, user: string) => Promise<string | undefined>
  close: () => Promise<void>
}

/** One process: every call is ours; there is no other node to hear, tell or forward to. */
export class LocalCallOwnership implements CallOwnership {
  readonly #held = new Set<string>()

  async claim (callId: string): Promise<boolean> {
    if (this.#held.has(callId)) return false
    this.#held.add(callId)
    return true
  }

  owns (callId: string): boolean {
    return this.#held.has(callId)
  }

  async release (callId: string): Promise<void> {
    this.#held.delete(callId)
  }

  async start (): Promise<void> {}
  update (): void {}
  isRemoteParty (): boolean { return false }
  remoteCallsOf (): string[] { return [] }
  async forwardAct (): Promise<undefined> { return undefined }
  async forwardSignal (): Promise<boolean> { return false }
  forwardDrop (): void {}
  inCall (): void {}
  // The bridge checks its own calls; no other node runs any.
  async busyCallOf (): Promise<undefined> { return undefined }
  async enterCall (): Promise<undefined> { return undefined }
  async close (): Promise<void> {}
}
