/**
 * Which node runs a call's media. One node owns each call: it holds the
 * room and answers its signals. In one process that is always this node; a
 * Redis implementation (a lease per call) plugs in here for scale-out.
 */
export interface CallOwnership {
  /** Take the call for this node; false when another node holds it. */
  claim: (callId: string) => Promise<boolean>
  /** Whether this node holds the call. */
  owns: (callId: string) => boolean
  release: (callId: string) => Promise<void>
}

/** The in-process default: every call is ours. */
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
}
