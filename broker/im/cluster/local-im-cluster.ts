import type { Logger } from 'pino'
import type { Membership } from '../membership.js'
import { Presence, type PresenceTracker } from '../presence.js'
import type { Publisher } from '../publisher.js'
import type { ImCluster, MembershipSource } from './im-cluster.js'

/** A retained message as the MQTT persistence hands it back. */
export interface RetainedPacket { topic: string, payload: Buffer | string }

export interface LocalImClusterOptions {
  /** This node's id. */
  nodeId: string
  /** Retained messages matching an MQTT filter, from the node's MQTT persistence. */
  retained: (filter: string) => AsyncIterable<RetainedPacket>
}

/**
 * The IM engine alone on its node: the membership mirror loaded from the
 * store at start, presence kept in process. Nobody is connected when the
 * node starts, so any presence left retained as online by the last run is
 * announced offline, with its last seen kept.
 */
export class LocalImCluster implements ImCluster {
  readonly nodeId: string
  readonly #retained: LocalImClusterOptions['retained']
  #publisher: Publisher | undefined
  #log: Logger | undefined

  constructor (options: LocalImClusterOptions) {
    this.nodeId = options.nodeId
    this.#retained = options.retained
  }

  presence (publisher: Publisher, logger: Logger, debounceMs: number): PresenceTracker {
    this.#publisher = publisher
    this.#log = logger
    return new Presence(publisher, logger, debounceMs)
  }

  async start (membership: Membership, load: MembershipSource): Promise<void> {
    for await (const { conv, user, role } of load()) membership.set(conv, user, role)
    await this.#resetPresence()
  }

  /** Alone, this node runs every periodic job. */
  async lease (): Promise<boolean> {
    return true
  }

  async close (): Promise<void> {}

  async #resetPresence (): Promise<void> {
    const publisher = this.#publisher
    if (publisher === undefined) return
    const stale: RetainedPacket[] = []
    for await (const packet of this.#retained('im/presence/+')) stale.push(packet)
    for (const packet of stale) {
      try {
        const event = JSON.parse(String(packet.payload)) as { user?: string, status?: string, lastSeen?: number }
        if (event.status === 'offline' || typeof event.user !== 'string') continue
        await publisher.event(packet.topic, { type: 'presence', user: event.user, status: 'offline', lastSeen: event.lastSeen ?? Date.now() }, 1, true)
      } catch (err) {
        this.#log?.warn({ err, topic: packet.topic }, 'could not reset stale presence')
      }
    }
  }
}
