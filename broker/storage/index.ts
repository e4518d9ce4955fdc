/**
 * broker/storage/: the kit every store is built from — group commit (one
 * fsync per batch), per-key locks, JSON on a level sublevel, and a Redis
 * keyspace with scripts. Stores import this file only; the kit imports no store.
 */
export { GroupCommit, rawBatch, type BatchSeal, type GroupCommitOperation, type GroupCommitOptions, type LevelDatabase, type RawBatch } from './group-commit.js'
export { KeyedLock } from './keyed-lock.js'
export { LevelJson, prefixRange, type KeyRange } from './level-json.js'
export { TurnReads } from './turn-reads.js'
export {
  RedisKeyspace, byteOrder, DEFAULT_REDIS_PREFIX, REDIS_STORE_CLIENT_OPTIONS,
  type RedisKeyspaceOptions, type RedisScript
} from './redis-keyspace.js'
