import type { Logger } from 'pino'
import type { Membership } from '../membership.js'
import type { PresenceTracker } from '../presence.js'
import type { Role } from '../../../protocol/index.js'
import type { Publisher } from '../publisher.js'

/** Every membership in the store, for (re)loading a node's mirror. */
export type MembershipSource = () => AsyncIterable<{ conv: string, user: string, role: Role }>

/**
 * The IM engine's view of the other nodes: LocalImCluster when the node is
 * alone, RedisImCluster when several nodes share one Redis (DESIGN.md
 * "Stores": membership mirrors kept in step, presence merged across nodes
 * with node liveness). The engine calls presence() while it is built,
 * start() once aedes listens (load the membership mirror, make presence
 * true), and close() last when it closes.
 */
export interface ImCluster {
  /** This node's id, unique per process start. */
  readonly nodeId: string
  presence: (publisher: Publisher, logger: Logger, debounceMs: number) => PresenceTracker
  start: (membership: Membership, load: MembershipSource) => Promise<void>
  /** Whether this node should run a periodic cluster-wide job (retention) now; one node at a time wins. */
  lease: (job: string, ms: number) => Promise<boolean>
  close: () => Promise<void>
}

/** The part of an mqemitter (aedes.mq) the cluster uses; in Redis mode it is mqemitter-redis. */
export interface ImEmitter {
  on: (topic: string, listener: EmitterListener, done?: () => void) => unknown
  removeListener: (topic: string, listener: EmitterListener, done?: () => void) => unknown
  emit: (message: { topic: string, payload: Buffer }, done?: (err?: Error) => void) => unknown
  /** mqemitter-redis only: 'subConnect' on each (re)connection of its subscriber. */
  state?: { on: (event: 'subConnect', listener: () => void) => unknown, removeListener: (event: 'subConnect', listener: () => void) => unknown }
}

/** What Hail emits always carries a payload; the emitter's own type does not say so. */
export type EmitterListener = (message: { topic: string, payload?: Buffer | string }, done: () => void) => void

/** Stop listening; waits for the emitter's confirmation at most `ms` (with Redis away it may never come). */
export async function stopListening (emitter: ImEmitter, topic: string, listener: EmitterListener, ms = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    new Promise<void>((resolve) => emitter.removeListener(topic, listener, resolve)),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })
  ])
  clearTimeout(timer)
}
