import type { AbstractLevel } from 'abstract-level'
import { Level } from 'level'
import { StoreError } from '../errors.js'

/** Any level database or sublevel (abstract-level API). */
export type LevelDatabase = AbstractLevel<any, any, any>

/**
 * One put or del. `sublevel` lets callers write to any sublevel of the
 * database the GroupCommit was made on, so writes of the journal and of the
 * persistence share one synced batch (and one write-ahead log).
 */
export type GroupCommitOperation =
  | { type: 'put', key: unknown, value: unknown, sublevel?: LevelDatabase, keyEncoding?: string, valueEncoding?: string }
  | { type: 'del', key: unknown, sublevel?: LevelDatabase, keyEncoding?: string }

export interface GroupCommitOptions {
  /**
   * Called after each batch with the number of write() calls it carried and
   * the seconds the batch took; wire it to the journal metrics.
   */
  onBatch?: (count: number, seconds: number) => void
  /**
   * Whether batches are fsynced (default true). False gives ordered batching
   * of writes that need no sync, such as journal deletes.
   */
  sync?: boolean
  /**
   * Seals each batch (integrity/data-seal.ts): one more operation in every
   * batch, and word once it reached disk, so a start can tell whether the
   * database lost acknowledged batches.
   */
  seal?: BatchSeal
}

/** What GroupCommitOptions.seal needs of a seal. */
export interface BatchSeal {
  /** The operation that seals the next batch, which carries `writes` write() calls. */
  next: (writes: number) => GroupCommitOperation
  /** That batch is on disk. */
  committed: () => void
}

interface Waiter {
  ops: GroupCommitOperation[]
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * Group commit: every write() resolves only once its operations are on disk
 * (`batch(ops, { sync: true })`), and writes that arrive while a batch is
 * being synced wait and go together in the next one. One fsync then pays for
 * many writes, which is what lets "a PUBACK means durable" keep up with load.
 * Batches run one at a time and in arrival order, so a later write never
 * lands before an earlier one.
 */
export class GroupCommit {
  readonly db: LevelDatabase
  readonly #onBatch: ((count: number, seconds: number) => void) | undefined
  readonly #batchOptions: { sync: boolean }
  readonly #seal: BatchSeal | undefined
  readonly #raw: RawBatch | undefined
  #queue: Waiter[] = []
  #running = false
  #lastWrite: Promise<void> = Promise.resolve()

  constructor (db: LevelDatabase, options: GroupCommitOptions = {}) {
    this.db = db
    this.#onBatch = options.onBatch
    this.#batchOptions = { sync: options.sync ?? true }
    this.#seal = options.seal
    this.#raw = rawBatch(db)
  }

  /** Writes `ops` atomically; resolves once they reached disk. */
  write (ops: GroupCommitOperation[]): Promise<void> {
    const invalid = ops.find(isInvalid)
    if (invalid !== undefined) {
      // refused here, so one caller's bad operation cannot fail a whole batch
      return Promise.reject(new StoreError(`invalid batch operation for key ${String(invalid.key)}`))
    }
    if (ops.length === 0) return Promise.resolve()
    const written = new Promise<void>((resolve, reject) => {
      this.#queue.push({ ops, resolve, reject })
      if (!this.#running) {
        this.#running = true
        // a microtask, so writes issued in the same tick share the first batch
        queueMicrotask(() => { void this.#drain() })
      }
    })
    this.#lastWrite = written.then(noop, noop)
    return written
  }

  /**
   * Whether operations on `db` (with `sublevel: db`) can go through this
   * group commit: `db` must belong to the same database, or level would
   * write the keys into the wrong one.
   */
  covers (db: LevelDatabase): boolean {
    return rootOf(db) === rootOf(this.db)
  }

  /**
   * Resolves once every write issued so far has settled (batches settle in
   * order, so the last one is enough). Writes issued later are not waited for.
   */
  flush (): Promise<void> {
    return this.#lastWrite
  }

  async #drain (): Promise<void> {
    while (this.#queue.length > 0) {
      const group = this.#queue
      this.#queue = []
      let ops = group.length === 1 ? group[0].ops : group.flatMap(w => w.ops)
      if (this.#seal !== undefined) ops = [...ops, this.#seal.next(group.length)]
      const started = process.hrtime.bigint()
      try {
        const raw = this.#raw?.(ops)
        if (raw !== undefined) {
          await raw.write(raw.ops, this.#batchOptions)
        } else {
          // abstract-level's types do not know classic-level's `sync` option
          await (this.db.batch as (ops: unknown[], options: object) => Promise<void>)
            .call(this.db, ops, this.#batchOptions)
        }
        this.#seal?.committed()
        for (const waiter of group) waiter.resolve()
      } catch (cause) {
        const err = new StoreError(`batch of ${ops.length} operations failed`, { cause })
        for (const waiter of group) waiter.reject(err)
      }
      try {
        this.#onBatch?.(group.length, Number(process.hrtime.bigint() - started) / 1e9)
      } catch {
        // a failing metrics hook must not stop later batches from being written
      }
    }
    this.#running = false
  }
}

function noop (): void {}

/** An operation as classic-level's native batch takes it: key and value already encoded, prefixes included. */
interface RawOperation { type: 'put' | 'del', key: string | Uint8Array, value?: string | Uint8Array }
type RawBatch = (ops: GroupCommitOperation[]) => { ops: RawOperation[], write: (ops: RawOperation[], options: object) => Promise<void> } | undefined

/** What of classic-level 3 / abstract-level 3 the raw batch relies on (test/broker/storage/group-commit-raw.test.ts). */
interface LevelInternals {
  status: string
  hooks: { prewrite: { noop: boolean } }
  listenerCount: (event: string) => number
  _batch: (ops: RawOperation[], options: object) => Promise<void>
}

/**
 * The batches of a classic-level root go to its private `_batch` with their
 * keys and values encoded here: abstract-level's public batch() copies, checks
 * and encodes every operation through its encoding and prefix machinery,
 * ~10 % of the broker's CPU per durable publish (fan-in profile, issue 13).
 * Only operations whose encodings are spelled out as utf8 or buffer/view take
 * this path; a batch with any other (json, a sublevel's default, a sublevel
 * of another database), a database that is not open, or one with prewrite
 * hooks or write listeners goes through batch() as before. Undefined when `db`
 * is no classic-level root or lacks the internals.
 */
export function rawBatch (db: LevelDatabase): RawBatch | undefined {
  if (!(db instanceof Level) || rootOf(db) !== db) return undefined
  const level = db as unknown as Partial<LevelInternals>
  if (typeof level._batch !== 'function' || typeof level.listenerCount !== 'function' || level.hooks?.prewrite === undefined) return undefined
  const internals = level as LevelInternals
  const write = internals._batch.bind(db)
  return (ops) => {
    if (internals.status !== 'open' || !internals.hooks.prewrite.noop || internals.listenerCount('write') > 0) return undefined
    const raw = new Array<RawOperation>(ops.length)
    for (let i = 0; i < ops.length; i++) {
      const op = rawOperation(ops[i]!, db)
      if (op === undefined) return undefined
      raw[i] = op
    }
    return { ops: raw, write }
  }
}

function rawOperation (op: GroupCommitOperation, root: LevelDatabase): RawOperation | undefined {
  let key: string | Uint8Array
  if (op.keyEncoding === 'utf8' && typeof op.key === 'string') key = op.key
  else if ((op.keyEncoding === 'buffer' || op.keyEncoding === 'view') && op.key instanceof Uint8Array) key = op.key
  else return undefined
  if (op.sublevel !== undefined && op.sublevel !== root) {
    if (rootOf(op.sublevel) !== root) return undefined
    const sublevel = op.sublevel as unknown as { prefixKey?: (key: unknown, format: string, local: boolean) => string | Uint8Array }
    if (typeof sublevel.prefixKey !== 'function') return undefined
    key = sublevel.prefixKey(key, typeof key === 'string' ? 'utf8' : 'buffer', false)
  }
  if (op.type === 'del') return { type: 'del', key }
  const value = op.value
  if (op.valueEncoding === 'utf8' && typeof value === 'string') return { type: 'put', key, value }
  if ((op.valueEncoding === 'buffer' || op.valueEncoding === 'view') && value instanceof Uint8Array) return { type: 'put', key, value }
  return undefined
}

function rootOf (db: LevelDatabase): LevelDatabase {
  // a sublevel's `db` is its root database; a root database has none
  return (db as { db?: LevelDatabase }).db ?? db
}

function isInvalid (op: GroupCommitOperation): boolean {
  if (op === null || typeof op !== 'object' || op.key === null || op.key === undefined) return true
  if (op.type === 'put') return op.value === null || op.value === undefined
  return op.type !== 'del'
}
