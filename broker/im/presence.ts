import type { Logger } from 'pino'
import { topics } from '../../protocol/index.js'
import type { PresenceStatus } from '../../protocol/index.js'
import type { Publisher } from './publisher.js'

type Chosen = Exclude<PresenceStatus, 'offline'>
export type { Chosen as ChosenStatus }

/**
 * What the engine asks of presence: this in-process Presence, or the
 * cluster's (cluster/cluster-presence.ts), which merges devices across nodes.
 */
export interface PresenceTracker {
  connected: (user: string, device: object) => void
  disconnected: (user: string, device: object) => void
  choose: (user: string, status: Chosen) => void
  /** Whether any device of the user is connected now. */
  isOnline: (user: string) => boolean
  close: () => Promise<void>
}

/**
 * Presence, owned by the server (DESIGN.md): a user is online while any of
 * their devices is connected, with the status they chose (away, busy), and
 * offline with a last-seen time once the last device has been gone for
 * `debounceMs` — a phone that drops and reconnects is never announced. aedes
 * ends a connection whose keep-alive expired, so a vanished network leads
 * here too. Announced retained on im/presence/{user}; who may read it is
 * the authority's business (shared conversations).
 */
export class Presence implements PresenceTracker {
  readonly #publisher: Publisher
  readonly #log: Logger
  readonly #debounceMs: number
  readonly #devices = new Map<string, Set<object>>()
  readonly #chosen = new Map<string, Chosen>()
  readonly #announced = new Map<string, PresenceStatus>()
  readonly #pendingOffline = new Map<string, NodeJS.Timeout>()

  constructor (publisher: Publisher, logger: Logger, debounceMs: number) {
    this.#publisher = publisher
    this.#log = logger
    this.#debounceMs = debounceMs
  }

  /** A device of `user` connected (`device` is any object unique to that connection). */
  connected (user: string, device: object): void {
    let devices = this.#devices.get(user)
    if (devices === undefined) this.#devices.set(user, devices = new Set())
    devices.add(device)
    const pending = this.#pendingOffline.get(user)
    if (pending !== undefined) {
      clearTimeout(pending)
      this.#pendingOffline.delete(user)
    }
    this.#announce(user, this.#chosen.get(user) ?? 'online')
  }

  disconnected (user: string, device: object): void {
    const devices = this.#devices.get(user)
    if (devices === undefined || !devices.delete(device) || devices.size > 0) return
    this.#devices.delete(user)
    const lastSeen = Date.now()
    const timer = setTimeout(() => {
      this.#pendingOffline.delete(user)
      this.#announce(user, 'offline', lastSeen)
    }, this.#debounceMs)
    timer.unref()
    this.#pendingOffline.set(user, timer)
  }

  /** The user's chosen status, applied while any device is online. */
  choose (user: string, status: Chosen): void {
    if (status === 'online') this.#chosen.delete(user)
    else this.#chosen.set(user, status)
    if (this.#devices.has(user)) this.#announce(user, status)
  }

  /** How many of the user's devices are connected now (no debounce: a push must not wait for it). */
  devices (user: string): number {
    return this.#devices.get(user)?.size ?? 0
  }

  /** Whether any device of the user is connected now. */
  isOnline (user: string): boolean {
    return this.devices(user) > 0
  }

  status (user: string): PresenceStatus {
    return this.#devices.has(user) ? this.#chosen.get(user) ?? 'online' : 'offline'
  }

  /** Publish final offline states now (at shutdown), so no timer is left behind. */
  async close (): Promise<void> {
    for (const timer of this.#pendingOffline.values()) clearTimeout(timer)
    this.#pendingOffline.clear()
  }

  #announce (user: string, status: PresenceStatus, lastSeen = Date.now()): void {
    if (this.#announced.get(user) === status) return
    this.#announced.set(user, status)
    this.#publisher.event(topics.presence(user), { type: 'presence', user, status, lastSeen }, 1, true)
      .catch((err: unknown) => this.#log.warn({ err, user }, 'presence announcement failed'))
  }
}
