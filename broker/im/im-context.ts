import type { Logger } from 'pino'
import type { FileStore } from '../files/file-store.js'
import type { Fanout } from './fanout.js'
import type { Membership } from './membership.js'
import type { PresenceTracker } from './presence.js'
import type { Publisher } from './publisher.js'
import type { Receipts } from './receipts.js'
import type { RecalledMessages } from './recalled-messages.js'
import type { ImStores } from './im-stores.js'

/** Who sent a request: the authenticated user and the device of its client id. */
export interface Caller {
  readonly user: string
  readonly device: string
}

export interface ImLimits {
  /** Largest payload accepted on im/send and im/cmd, in bytes. */
  readonly maxMessageBytes: number
  /** Receipts are fanned out only in conversations up to this many members. */
  readonly receiptFanoutLimit: number
  /** Milliseconds a user stays "online" after their last device left. */
  readonly presenceDebounceMs: number
  /** History retention per conversation (null: keep). */
  readonly retentionMaxCount: number | null
  readonly retentionMaxAgeMs: number | null
  readonly retentionIntervalMs: number
  /** Requests per device per second, and burst. */
  readonly rateLimitPerSecond: number
  readonly rateLimitBurst: number
  /** Messages stored whose fan-out has not finished; past it, senders' PUBACKs wait (backpressure). */
  readonly maxFanoutBacklog: number
}

/** What every IM handler works with. */
export interface ImContext {
  readonly stores: ImStores
  readonly membership: Membership
  readonly publisher: Publisher
  readonly fanout: Fanout
  readonly presence: PresenceTracker
  readonly receipts: Receipts
  /** The recalled messages whose queued deliveries go out as tombstones. */
  readonly recalled: RecalledMessages
  readonly limits: ImLimits
  readonly log: Logger
  /** Uploads and file metadata; absent when the server runs without files. */
  readonly files?: FileStore
}
