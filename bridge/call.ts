import { ImError } from '../broker/index.js'
import type { CallEventName, CallMedia, CallMode, EndReason } from '../protocol/index.js'

/** A device: the user and device of its client id `{user}/{device}`. */
export interface Party { readonly user: string, readonly device: string }

export const deviceId = (p: Party): string => `${p.user}/${p.device}`

/** What a transition asks the bridge to do; the Call itself publishes nothing. */
export type CallEffect =
  | { kind: 'notify', users: string[], event: CallEventName, by?: string, reason?: EndReason }
  /** A device enters the call's media (SFU peer, or p2p relay end). */
  | { kind: 'join', device: string }
  | { kind: 'leave', device: string }
  /** Nobody rings any more: stop the ring timer. */
  | { kind: 'stopRinging' }
  /** The call is over: write its record, free its media. Always the last effect. */
  | { kind: 'end', reason: EndReason }

export interface CallInit {
  id: string
  conv: string
  mode: CallMode
  media: CallMedia
  /** A group call rings several users and lets members join and leave. */
  group: boolean
  caller: Party
  /** Users rung (never the caller). */
  callees: string[]
  maxParticipants: number
  now?: number
}

export interface Span { device: string, joinedAt: number, leftAt: number | null }

const callState = (message: string): ImError => new ImError('HAIL_ERR_CALL_STATE', message)

/**
 * One call's state, with no I/O: every transition checks who asks, changes
 * the state and returns the effects (events to publish, media to join or
 * leave, the end). States: ringing (only the caller is in) → active (someone
 * accepted) → ended. 1:1 calls end when either side hangs up; group calls
 * when the last participant leaves. Each user is in a call on one device.
 */
export class Call {
  readonly id: string
  readonly conv: string
  readonly mode: CallMode
  readonly media: CallMedia
  readonly group: boolean
  readonly caller: Party
  /** Every user party to the call: the caller and those rung (group members who join later are added). */
  readonly users: Set<string>
  /** Users still being rung. */
  readonly ringing: Set<string>
  /** Who is in the call now: user → device. */
  readonly participants = new Map<string, string>()
  /** Each stay of a device in the call, for the record. */
  readonly spans: Span[] = []
  readonly maxParticipants: number
  readonly startedAt: number
  answeredAt: number | null = null
  endedAt: number | null = null
  reason: EndReason | null = null
  #state: 'ringing' | 'active' | 'ended' = 'ringing'

  constructor (init: CallInit) {
    this.id = init.id
    this.conv = init.conv
    this.mode = init.mode
    this.media = init.media
    this.group = init.group
    this.caller = init.caller
    this.maxParticipants = init.maxParticipants
    this.startedAt = init.now ?? Date.now()
    this.users = new Set([init.caller.user, ...init.callees])
    this.ringing = new Set(init.callees.filter((u) => u !== init.caller.user))
  }

  get state (): 'ringing' | 'active' | 'ended' {
    return this.#state
  }

  /** Whether this device is in the call now. */
  isParticipant (p: Party): boolean {
    return this.participants.get(p.user) === p.device
  }

  /** The call is placed: the caller's device is in, every callee's devices ring. */
  start (busy: string[] = [], now = Date.now()): CallEffect[] {
    const effects: CallEffect[] = busy.map((user) => this.#notify([this.caller.user], 'busy', user))
    // Nobody to ring (every callee busy): over before it began.
    if (this.ringing.size === 0) return [...effects, ...this.#end('busy', now, false)]
    return [...this.#enter(this.caller, now), this.#notify([...this.ringing], 'ring'), ...effects]
  }

  /** A callee's device answers the ring: the first device of that user wins. */
  accept (p: Party, now = Date.now()): CallEffect[] {
    this.#live()
    this.#party(p)
    if (this.participants.has(p.user)) throw callState(`call ${this.id} was answered on ${p.user}/${this.participants.get(p.user)!}`)
    if (!this.ringing.has(p.user)) throw callState(this.group ? `call ${this.id} is not ringing for you; use call.join` : `call ${this.id} is not ringing for you`)
    this.#room()
    this.ringing.delete(p.user)
    const effects = this.#enter(p, now)
    if (this.#state === 'ringing') {
      this.#state = 'active'
      this.answeredAt = now
    }
    const by = deviceId(p)
    effects.push(this.#notify(this.#others(p.user), 'accepted', by))
    effects.push(this.#notify([p.user], 'answered-elsewhere', by))
    if (this.ringing.size === 0) effects.push({ kind: 'stopRinging' })
    return effects
  }

  /** A callee declines. A 1:1 call ends; a group call goes on while anyone is in or still rung. */
  reject (p: Party, now = Date.now()): CallEffect[] {
    this.#live()
    this.#party(p)
    if (!this.ringing.has(p.user)) throw callState(`call ${this.id} is not ringing for you`)
    this.ringing.delete(p.user)
    const effects: CallEffect[] = [this.#notify([...this.users], 'rejected', deviceId(p))]
    if (!this.group || (this.#state === 'ringing' && this.ringing.size === 0)) {
      effects.push(...this.#end('rejected', now))
    } else if (this.ringing.size === 0) {
      effects.push({ kind: 'stopRinging' })
    }
    return effects
  }

  /** A member of a group call's conversation comes in (rung or not, while it runs). */
  join (p: Party, now = Date.now()): CallEffect[] {
    this.#live()
    if (!this.group) throw callState(`call ${this.id} is a 1:1 call: use call.accept`)
    if (this.participants.has(p.user)) throw callState(`you are in call ${this.id} on ${p.user}/${this.participants.get(p.user)!}`)
    this.#room()
    this.users.add(p.user)
    const wasRung = this.ringing.delete(p.user)
    const effects = this.#enter(p, now)
    if (this.#state === 'ringing') {
      this.#state = 'active'
      this.answeredAt = now
    }
    const by = deviceId(p)
    effects.push(this.#notify(this.#others(p.user), 'joined', by))
    if (wasRung) effects.push(this.#notify([p.user], 'answered-elsewhere', by))
    if (wasRung && this.ringing.size === 0) effects.push({ kind: 'stopRinging' })
    return effects
  }

  /**
   * A device hangs up (or its connection died: reason 'disconnected'). The
   * caller before anyone answered cancels; in a 1:1 call it ends the call;
   * in a group call it leaves, and the last one out ends it. A callee's
   * device that is still ringing declines.
   */
  hangup (p: Party, reason: 'hangup' | 'disconnected' = 'hangup', now = Date.now()): CallEffect[] {
    this.#live()
    if (!this.isParticipant(p)) {
      if (this.ringing.has(p.user) && reason === 'hangup') return this.reject(p, now)
      throw callState(`you are not in call ${this.id}`)
    }
    const by = deviceId(p)
    if (this.#state === 'ringing') {
      return [this.#notify([...this.users], 'cancelled', by, reason === 'disconnected' ? 'disconnected' : 'cancelled'), ...this.#end(reason === 'disconnected' ? 'disconnected' : 'cancelled', now)]
    }
    if (!this.group || this.participants.size === 1) {
      return [this.#notify([...this.users], 'ended', by, reason), ...this.#end(reason, now)]
    }
    const effects = this.#leave(p, now)
    effects.push(this.#notify([...this.users], 'left', by, reason))
    return effects
  }

  /** A device's connection ended: if it was in the call, as a hangup; otherwise nothing. */
  drop (p: Party, now = Date.now()): CallEffect[] {
    if (this.#state === 'ended' || !this.isParticipant(p)) return []
    return this.hangup(p, 'disconnected', now)
  }

  /** The ring timer fired: users still rung missed it; a call nobody answered is over. */
  ringTimeout (now = Date.now()): CallEffect[] {
    if (this.#state === 'ended' || this.ringing.size === 0) return []
    const missed = [...this.ringing]
    this.ringing.clear()
    if (this.#state === 'ringing') {
      return [this.#notify([...this.users], 'missed', undefined, 'missed'), ...this.#end('missed', now)]
    }
    return [this.#notify(missed, 'missed', undefined, 'missed'), { kind: 'stopRinging' }]
  }

  /** The server stops, the call's media failed, or the media worker running it stopped. */
  abort (reason: 'shutdown' | 'failed' | 'media-lost', now = Date.now()): CallEffect[] {
    if (this.#state === 'ended') return []
    return [this.#notify([...this.users], 'ended', undefined, reason), ...this.#end(reason, now)]
  }

  /** Milliseconds between the answer and the end (0 when nobody answered). */
  get durationMs (): number {
    return this.answeredAt === null || this.endedAt === null ? 0 : this.endedAt - this.answeredAt
  }

  #enter (p: Party, now: number): CallEffect[] {
    this.participants.set(p.user, p.device)
    this.spans.push({ device: deviceId(p), joinedAt: now, leftAt: null })
    return [{ kind: 'join', device: deviceId(p) }]
  }

  #leave (p: Party, now: number): CallEffect[] {
    this.participants.delete(p.user)
    const span = this.spans.findLast((s) => s.device === deviceId(p) && s.leftAt === null)
    if (span !== undefined) span.leftAt = now
    return [{ kind: 'leave', device: deviceId(p) }]
  }

  #end (reason: EndReason, now: number, stopRinging = true): CallEffect[] {
    const effects: CallEffect[] = []
    for (const [user, device] of [...this.participants]) effects.push(...this.#leave({ user, device }, now))
    this.ringing.clear()
    this.#state = 'ended'
    this.endedAt = now
    this.reason = reason
    if (stopRinging) effects.push({ kind: 'stopRinging' })
    effects.push({ kind: 'end', reason })
    return effects
  }

  #notify (users: string[], event: CallEventName, by?: string, reason?: EndReason): CallEffect {
    return { kind: 'notify', users, event, ...(by === undefined ? {} : { by }), ...(reason === undefined ? {} : { reason }) }
  }

  #others (user: string): string[] {
    return [...this.users].filter((u) => u !== user)
  }

  #live (): void {
    if (this.#state === 'ended') throw new ImError('HAIL_ERR_CALL_NOT_FOUND', `call ${this.id} has ended`)
  }

  #party (p: Party): void {
    if (!this.users.has(p.user)) throw new ImError('HAIL_ERR_CALL_NOT_FOUND', `no call ${this.id}`)
  }

  #room (): void {
    if (this.participants.size >= this.maxParticipants) throw callState(`call ${this.id} is full (${this.maxParticipants} participants)`)
  }
}
