import type { Aedes } from 'aedes'
import type { MQEmitter } from 'mqemitter'
import type { Logger } from 'pino'
import type { HailConfig } from '../config.js'
import type { FileIndex } from '../files/index.js'
import type { ImCluster } from '../im/cluster/index.js'
import type { ImStores } from '../im/store/index.js'
import type { Metrics } from '../metrics.js'
import type { DurablePublish } from '../mqtt/durable-publish.js'
import type { ShareCluster } from '../mqtt/shared-subscriptions.js'
import type { LiveBudget } from '../persistence/live-outgoing.js'
import type { MqttPersistence } from '../persistence/mqtt-persistence.js'
import type { PublishJournal } from '../persistence/publish-journal.js'
import type { UserStore } from '../users/index.js'

export interface BackendOptions {
  config: Readonly<HailConfig>
  metrics: Metrics
  logger: Logger
  /**
   * Which filters of a SUBSCRIBE a persistent session keeps: aedes stores the
   * packet's whole list, refused filters included (level-persistence.ts).
   */
  keepSubscription: (client: object, filter: string) => boolean
}

export interface BackendStatus {
  store: 'embedded' | 'redis'
  /** Redis mode: whether every connection is up, which are not, a PING's round trip now. */
  redis?: { up: boolean, down: string[], latencyMs: number | null }
  /** Redis mode: the other nodes' runs alive now (Backend.runId), with their last heartbeat. */
  peers?: Array<{ run: string, lastSeen: number }>
}

/** What a backend's start() needs of the running broker. */
export interface BackendStart {
  aedes: Aedes
  durable: DurablePublish
  /** Close this node's connections of a user deleted on any node; returns how many. */
  disconnectUser: (user: string) => number
  /** Lift this node's login lockout of an account unlocked on any node. */
  unlockUser: (user: string) => void
}

/**
 * Where a node keeps its state and how it keeps step with other nodes. Two
 * implementations, side by side: EmbeddedBackend (everything in the data
 * directory's level database; one node) and RedisBackend (every store but
 * files in a shared Redis; several nodes). The server is built on this
 * interface only (README, "Scale out").
 */
export interface Backend {
  readonly kind: 'embedded' | 'redis'
  /** This node's lasting id (kept in its data directory). */
  readonly nodeId: string
  /**
   * This run of the node: `{nodeId}.{8 hex}`, new at each start. What other nodes and aedes
   * tell runs apart by (a restarted node's earlier run is dead: its wills are due, its
   * presence reaped), and the broker id aedes stores wills under.
   */
  readonly runId: string
  /** The MQTT persistence aedes runs on. */
  readonly persistence: MqttPersistence
  /** The bound on deliveries held in memory (live-outgoing.ts), where the backend has such queues. */
  readonly liveBudget?: LiveBudget
  /** Routes publishes: within this process, or between every node. */
  readonly emitter: MQEmitter
  readonly users: UserStore
  readonly imStores: ImStores
  /** "PUBACK means durable": written before aedes may acknowledge (mqtt/durable-publish.ts). */
  readonly journal: PublishJournal
  /** Files stay on each node's disk in both modes. */
  readonly fileIndex: FileIndex
  /** The IM engine's view of the other nodes. */
  readonly imCluster: ImCluster
  /** Whether every store is reachable now (`/healthz`). */
  readonly healthy: boolean
  /** With several nodes, which one delivers a shared subscription's message; none on one node. */
  shareCluster (logger: Logger): ShareCluster | undefined
  /** What /healthz shows of the stores and, with Redis, of the other nodes. */
  status (): Promise<BackendStatus>
  /**
   * Once aedes listens: publish what the journal holds from before the last
   * stop (resolves with how many), and start what keeps nodes in step.
   */
  start: (parts: BackendStart) => Promise<number>
  /** Tell every node that a user was deleted (alone: nobody to tell). */
  userDeleted: (user: string) => void
  /** Tell every node that an account's login lockout was lifted (alone: nobody to tell). */
  userUnlocked: (user: string) => void
  /** Stop what start() started; the stores stay open. */
  stop: () => Promise<void>
  /** After aedes closed and its persistence was destroyed: wait for the stores' writes and close them. */
  close: () => Promise<void>
}
