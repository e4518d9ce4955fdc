import { StoreError } from '../errors.js'
import { rawBatch, type GroupCommitOperation, type LevelDatabase, type RawBatch } from '../storage/index.js'

const UTF8 = 'utf8'
const BUFFER = 'buffer'
/** Longest a write nobody waits for waits for company. */
const LINGER_MS = 1
/** Queued operations that start a batch without lingering. */
const LINGER_OPS = 512

/**
 * One put or del on a sublevel of the writer's database, in the form level's
 * batch() takes (built by put() and del(), so a batch needs no copying). A
 * put's value may be a function giving the bytes, called only if the put is
 * still needed when its batch is written.
 */
export type WriterOperation =
  | { type: 'put', key: string, value: string | Buffer | (() => Buffer), sublevel: LevelDatabase, keyEncoding: string, valueEncoding: string }
  | { type: 'del', key: string, sublevel: LevelDatabase, keyEncoding: string }

/** A put of `value` (a string is stored as UTF-8, bytes as they are) under `key` of `db`. */
export function put (db: LevelDatabase, key: string, value: string | Buffer | (() => Buffer)): WriterOperation {
  return { type: 'put', key, value, sublevel: db, keyEncoding: UTF8, valueEncoding: typeof value === 'string' ? UTF8 : BUFFER }
}

/** A del of `key` of `db`. */
export function del (db: LevelDatabase, key: string): WriterOperation {
  return { type: 'del', key, sublevel: db, keyEncoding: UTF8 }
}

/** The writes gathered for one batch, and the one promise they all share. */
interface Group {
  ops: WriterOperation[]
  landed: Promise<void>
  resolve: () => void
  reject: (err: Error) => void
}

function newGroup (): Group {
  const group = { ops: [] } as unknown as Group
  group.landed = new Promise<void>((resolve, reject) => {
    group.resolve = resolve
    group.reject = reject
  })
  // failures reach whoever awaits it; writes nobody waits for have nobody
  group.landed.catch(noop)
  return group
}

/**
 * Writes batches in the order they are issued, never two at a time: batches
 * issued while one is being written go together in the next one, so callers
 * may issue a write and move on without waiting, and a later write still
 * never lands before an earlier one. What is on disk is therefore always the
 * result of some prefix of the issued writes.
 *
 * A batch is atomic, so of several operations on one key in it only the last
 * is written: a drained packet's messageId update and its PUBACK's delete,
 * when they meet in one batch, cost the delete alone.
 *
 * A failed batch fails every write queued behind it too (they were computed
 * as if it had landed, so landing them could leave a record without its
 * index), then calls `onFailure` before any later write can start.
 *
 * The writes of one batch share one promise (a drain issues two writes per
 * packet; a promise and its handlers each were a share of its garbage).
 */
export class OrderedWriter {
  readonly #db: LevelDatabase
  readonly #onFailure: (err: Error) => void
  /** The writes issued since the last batch started, if any. */
  #queue: Group | undefined
  /** Whether a queued write has a caller waiting on it. */
  #urgent = false
  #running = false
  #timer: NodeJS.Timeout | undefined
  #last: Promise<void> = Promise.resolve()
  /** classic-level's private batch, past abstract-level's per-operation work (storage/group-commit.ts) */
  readonly #raw: RawBatch | undefined

  constructor (db: LevelDatabase, onFailure: (err: Error) => void) {
    this.#db = db
    this.#raw = rawBatch(db)
    this.#onFailure = onFailure
  }

  /**
   * Issues `ops` as one atomic unit; resolves once they are written. A write
   * that is not `urgent` (nobody waits for it to go on) may wait up to
   * LINGER_MS for others to share its batch; an urgent one, or LINGER_OPS
   * queued operations, start the batch at once.
   */
  write (ops: WriterOperation[], urgent = true): Promise<void> {
    if (ops.length === 0) return this.#last
    let group = this.#queue
    if (group === undefined) {
      group = this.#queue = newGroup()
      this.#last = group.landed.then(noop, noop)
    }
    for (const op of ops) group.ops.push(op)
    if (urgent) this.#urgent = true
    this.#schedule()
    return group.landed
  }

  /** Resolves once every write issued so far has settled (and hurries them). */
  flush (): Promise<void> {
    if (this.#queue !== undefined) {
      this.#urgent = true
      this.#schedule()
    }
    return this.#last
  }

  #schedule (): void {
    if (this.#running || this.#queue === undefined) return
    if (this.#urgent || this.#queue.ops.length >= LINGER_OPS) {
      clearTimeout(this.#timer)
      this.#timer = undefined
      this.#running = true
      // a microtask, so writes issued in the same tick share the batch
      queueMicrotask(() => { void this.#drain() })
    } else {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined
        this.#urgent = true
        this.#schedule()
      }, LINGER_MS)
    }
  }

  async #drain (): Promise<void> {
    while (this.#queue !== undefined && (this.#urgent || this.#queue.ops.length >= LINGER_OPS)) {
      const group = this.#queue
      this.#queue = undefined
      this.#urgent = false
      try {
        const ops = lastPerKey(group.ops)
        for (const op of ops) {
          if (op.type === 'put' && typeof op.value === 'function') op.value = op.value()
        }
        const raw = this.#raw?.(ops as GroupCommitOperation[])
        if (raw !== undefined) await raw.write(raw.ops, {})
        else await this.#db.batch(ops as never)
        group.resolve()
      } catch (cause) {
        const err = new StoreError('could not write the outgoing queue', { cause })
        // written meanwhile, as if this batch had landed
        const behind = this.#queue as Group | undefined
        this.#queue = undefined
        try {
          this.#onFailure(err)
        } finally {
          group.reject(err)
          behind?.reject(err)
        }
      }
    }
    this.#running = false
    // what came in meanwhile and nobody waits for lingers
    this.#schedule()
  }
}

/**
 * The operations that are the last on their key, in order (a batch applies
 * them in order, so the others would be overwritten anyway). Keys are told
 * apart per sublevel object: no prefixed key string is built per operation.
 */
function lastPerKey (ops: WriterOperation[]): WriterOperation[] {
  if (ops.length < 2) return ops
  const last = new Map<LevelDatabase, Map<string, number>>()
  let repeated = false
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]
    let keys = last.get(op.sublevel)
    if (keys === undefined) last.set(op.sublevel, keys = new Map())
    if (keys.has(op.key)) repeated = true
    keys.set(op.key, i)
  }
  return repeated ? ops.filter((op, i) => last.get(op.sublevel)?.get(op.key) === i) : ops
}

function noop (): void {}
