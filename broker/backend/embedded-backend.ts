import mqemitter, { type MQEmitter } from 'mqemitter'
import type { Client } from 'aedes'
import { FileIndex } from '../files/index.js'
import { LocalImCluster, type RetainedPacket } from '../im/cluster/index.js'
import { isLiveImDelivery } from '../im/live-delivery.js'
import { createLevelImStores, type ImStores } from '../im/store/index.js'
import { Journal } from '../persistence/journal.js'
import { LevelPersistence } from '../persistence/level-persistence.js'
import { LiveBudget, liveOutgoing } from '../persistence/live-outgoing.js'
import type { MqttPersistence } from '../persistence/mqtt-persistence.js'
import { LevelUserStore } from '../users/index.js'
import type { Backend, BackendOptions, BackendStart, BackendStatus } from './backend.js'
import { DataDir } from './data-dir.js'
import { runIdOf } from './node-id.js'

/**
 * The default backend: one node, everything in its data directory's level
 * database — MQTT sessions and queues, the publish journal, users, the
 * conversation stores, the files' index — written through one group commit,
 * so every store shares the fsyncs and the write-ahead log. No server needed.
 */
export class EmbeddedBackend implements Backend {
  readonly kind = 'embedded'
  readonly healthy = true

  shareCluster (): undefined {
    return undefined
  }

  async status (): Promise<BackendStatus> {
    return { store: 'embedded' }
  }

  readonly nodeId: string
  readonly runId: string
  readonly persistence: MqttPersistence
  /** The bound on deliveries held in memory (limits.maxLiveQueueBytes); the IM fan-out reads its pressure. */
  readonly liveBudget: LiveBudget
  // As aedes makes its own (`#` matches the parent level too [MQTT-4.7.1-3]) but with no concurrency
  // limit: past one, mqemitter queues in an array it shift()s, O(n) per message once the queue is long,
  // which was most of the CPU of the chat cell's collapse (issue 12). What is in flight stays bounded
  // without it: aedes reads no more of a client's socket until its publish was emitted, and the IM
  // fan-out holds PUBACKs past im.maxFanoutBacklog. Deliveries keep the order of emits either way.
  readonly emitter: MQEmitter = mqemitter({ concurrency: 0, matchEmptyLevels: true })
  readonly users: LevelUserStore
  readonly imStores: ImStores
  readonly journal: Journal
  readonly fileIndex: FileIndex
  readonly imCluster: LocalImCluster
  readonly #dir: DataDir

  private constructor (dir: DataDir, options: BackendOptions) {
    const { config, metrics, logger } = options
    const { db, groupCommit } = dir
    this.#dir = dir
    this.nodeId = dir.nodeId
    this.runId = runIdOf(dir.nodeId)
    const persistence = new LevelPersistence(db.sublevel<string, Buffer>('mqtt', { valueEncoding: 'buffer' }), {
      maxQueue: config.limits.maxQueue,
      groupCommit,
      keepSubscription: (client, sub) => options.keepSubscription(client as Client, sub.topic),
      onQueueFull: (clientId) => {
        metrics.limitHits.inc({ limit: 'maxQueue' })
        logger.debug({ clientId }, 'offline queue full: message dropped')
      }
    })
    metrics.sources.retainedMessages = () => persistence.retainedCount
    metrics.sources.queuedPackets = () => persistence.queuedCount
    // IM messages (and own-user receipts) to connected devices skip the durable queue: sync recovers them (im/live-delivery.ts).
    this.liveBudget = new LiveBudget(config.limits.maxLiveQueueBytes)
    metrics.sources.liveQueueBytes = () => this.liveBudget.held
    this.persistence = liveOutgoing(persistence, { live: isLiveImDelivery, maxPerClient: config.limits.maxQueue, budget: this.liveBudget })
    this.users = LevelUserStore.inDatabase(db, { groupCommit })
    this.imStores = createLevelImStores(db, groupCommit)
    this.journal = new Journal(db.sublevel<string, Buffer>('journal', { valueEncoding: 'buffer' }), groupCommit)
    this.fileIndex = fileIndexIn(dir)
    this.imCluster = new LocalImCluster({
      nodeId: dir.nodeId,
      retained: (filter) => persistence.createRetainedStream(filter) as AsyncIterable<RetainedPacket>
    })
  }

  /** The data directory's database, which `hail backup` copies from (integrity/). */
  get database (): DataDir['db'] {
    return this.#dir.db
  }

  static async open (options: BackendOptions): Promise<EmbeddedBackend> {
    const dir = await DataDir.open(options.config.dataDir, { onBatch: journalMetrics(options) })
    return new EmbeddedBackend(dir, options)
  }

  /** Publishes acknowledged before the last stop and not finished are published now; resolves with how many. */
  async start (parts: BackendStart): Promise<number> {
    return await parts.durable.replay(parts.aedes)
  }

  userDeleted (): void {}

  userUnlocked (): void {}

  async stop (): Promise<void> {}

  async close (): Promise<void> {
    await new Promise<void>((resolve) => this.emitter.close(() => resolve()))
    await this.imStores.close()
    await this.#dir.close()
  }
}

/** The files' index lives in the data directory in both modes (files stay on each node's disk). */
export function fileIndexIn (dir: DataDir): FileIndex {
  return new FileIndex(dir.db.sublevel<string, string>('files', { keyEncoding: 'utf8', valueEncoding: 'utf8' }), dir.groupCommit)
}

/** Each synced batch of the data directory, in the journal's metrics. */
export function journalMetrics (options: BackendOptions): (count: number, seconds: number) => void {
  return (count, seconds) => {
    options.metrics.journalBatchSize.observe(count)
    options.metrics.journalSyncSeconds.observe(seconds)
  }
}
