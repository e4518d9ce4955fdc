import type { GroupCommit, GroupCommitOperation, LevelDatabase } from '../../storage/index.js'
import { requireConvId } from './conv-id.js'
import { normalizeDraft, readLimit, recallInput, requireSeq, type Normalized } from './draft-input.js'
import { StoreError, StoreInputError } from './errors.js'
import { LevelJson, TurnReads, prefixRange } from '../../storage/index.js'
import {
  type AppendResult, type Draft, type Envelope, type MessageLog, type PruneOptions, type ReadOptions, type ReadResult, type Recall, type RecallOptions
} from './message-log.js'
import { isLiveEditOf, tombstoneOf } from './tombstone.js'

// Keys (no conv id or user name contains '!'):
//   m!{conv}!{seq, 16 digits}     the envelope, JSON
//   i!{conv}!{from}!{cid}         the seq of the message (from, cid) sent
//   p!{conv}                      the highest seq ever pruned
// The counter is read back from the newest m! key and p!, both written in the
// same synced batches as the messages, so a crash can neither reuse nor skip
// a seq.
const SEQ_DIGITS = 16
const PRUNE_CHUNK = 1000
const RECALL_CHUNK = 1000
const IDLE_CONVS_KEPT = 100_000

export interface LevelMessageLogOptions {
  /** How many idle conversations keep their counters in memory (default 100,000). */
  idleConvsKept?: number
}

type Job =
  | { type: 'append', draft: Normalized, resolve: (result: AppendResult) => void, reject: (err: Error) => void }
  | { type: 'prune', options: PruneOptions, removed: number, resolve: (removed: number) => void, reject: (err: Error) => void }
  | {
    type: 'recall'
    seq: number
    deleted: Recall
    /** Where the look for edits is: undefined until the target is overwritten. */
    after: number | undefined
    editsAfter: number
    tombstone: Envelope | undefined
    resolve: (tombstone: Envelope | undefined) => void
    reject: (err: Error) => void
  }

interface ConvState {
  /** Whether first and last hold what is on disk. */
  loaded: boolean
  loading: Promise<void> | undefined
  /** The oldest stored seq; last + 1 when nothing is stored. */
  first: number
  /** The newest committed seq. */
  last: number
  jobs: Job[]
  /** Set while jobs run; the promise settles when the queue is empty. */
  running: Promise<void> | undefined
}

/**
 * The conversation log on a level sublevel. Each conversation has a queue:
 * appends that arrive while the previous write of that conversation is being
 * synced are stamped and written together as the next batch, so one
 * conversation pays about one fsync per round trip however many senders it
 * has, and different conversations share the group commit's fsyncs. A batch
 * is formed only once the previous one is on disk, so a failed write cannot
 * leave a later seq behind a missing one.
 */
export class LevelMessageLog implements MessageLog {
  readonly #store: LevelJson
  /** The idempotency keys of every conversation's group in a turn, read at once. */
  readonly #idReads: TurnReads
  readonly #states = new Map<string, ConvState>()
  readonly #idleConvsKept: number
  #closed = false

  /**
   * `db` is the log's sublevel; `groupCommit` the server's synced group
   * commit on the same database.
   */
  constructor (db: LevelDatabase, groupCommit: GroupCommit, options: LevelMessageLogOptions = {}) {
    this.#store = new LevelJson(db, groupCommit, 'message log')
    this.#idReads = new TurnReads(this.#store)
    this.#idleConvsKept = options.idleConvsKept ?? IDLE_CONVS_KEPT
  }

  append (conv: string, draft: Draft): Promise<AppendResult> {
    try {
      requireConvId(conv)
      const normalized = normalizeDraft(draft)
      return this.#enqueue<AppendResult>(conv, (resolve, reject) => ({ type: 'append', draft: normalized, resolve, reject }))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async read (conv: string, options: ReadOptions): Promise<ReadResult> {
    requireConvId(conv)
    const after = requireSeq(options.after, 'after')
    const limit = readLimit(options.limit)
    const state = await this.#ready(conv)
    const { first, last } = state
    const messages: Envelope[] = []
    let more = false
    if (after < last) {
      // up to the newest committed seq only: a batch may be on disk a moment
      // before its appends resolve, and lastSeq must not trail the messages
      const range = { gt: messageKey(conv, after), lte: messageKey(conv, last), limit: limit + 1 }
      for await (const [, envelope] of this.#store.entries<Envelope>(range)) {
        if (messages.length === limit) {
          more = true
          break
        }
        messages.push(envelope)
      }
    }
    return { messages, more, lastSeq: last, firstSeq: first }
  }

  async lastSeq (conv: string): Promise<number> {
    requireConvId(conv)
    return (await this.#ready(conv)).last
  }

  async get (conv: string, seq: number): Promise<Envelope | undefined> {
    requireConvId(conv)
    requireSeq(seq, 'seq')
    if (seq < 1) return undefined
    return await this.#store.get<Envelope>(messageKey(conv, seq))
  }

  prune (conv: string, options: PruneOptions): Promise<number> {
    try {
      requireConvId(conv)
      if (options.maxCount !== undefined) requireSeq(options.maxCount, 'maxCount')
      if (options.maxAgeMs !== undefined && !(Number.isFinite(options.maxAgeMs) && options.maxAgeMs >= 0)) {
        throw new StoreInputError(`maxAgeMs must be a number >= 0, not ${String(options.maxAgeMs)}`)
      }
      if (options.now !== undefined && !Number.isFinite(options.now)) throw new StoreInputError('now must be a number')
      if (options.maxCount === undefined && options.maxAgeMs === undefined) return Promise.resolve(0)
      return this.#enqueue<number>(conv, (resolve, reject) => ({ type: 'prune', options, removed: 0, resolve, reject }))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  recall (conv: string, seq: number, deleted: Recall, options: RecallOptions = {}): Promise<Envelope | undefined> {
    try {
      const { mark, editsAfter } = recallInput(conv, seq, deleted, options)
      // a job of the conversation's queue: never interleaved with its appends and prunes within a chunk
      return this.#enqueue<Envelope | undefined>(conv, (resolve, reject) => ({
        type: 'recall', seq, deleted: mark, after: undefined, editsAfter, tombstone: undefined, resolve, reject
      }))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    for (const state of this.#states.values()) await state.running
    await this.#store.groupCommit.flush()
  }

  #enqueue<T> (conv: string, make: (resolve: (value: T) => void, reject: (err: Error) => void) => Job): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError('the message log is closed'))
    const state = this.#state(conv)
    const result = new Promise<T>((resolve, reject) => { state.jobs.push(make(resolve, reject)) })
    state.running ??= this.#run(conv, state)
    return result
  }

  #state (conv: string): ConvState {
    let state = this.#states.get(conv)
    if (state === undefined) {
      // before the new state is in the map, so it is never the one forgotten
      this.#forgetIdle()
      state = { loaded: false, loading: undefined, first: 1, last: 0, jobs: [], running: undefined }
    } else {
      this.#states.delete(conv) // re-inserted below: Map order is then least recently used first
    }
    this.#states.set(conv, state)
    return state
  }

  async #ready (conv: string): Promise<ConvState> {
    const state = this.#state(conv)
    await this.#loaded(conv, state)
    return state
  }

  /** Reads the counters once; after a failed write they are read again. */
  async #loaded (conv: string, state: ConvState): Promise<void> {
    if (state.loaded) return
    state.loading ??= this.#load(conv, state).then(
      () => { state.loaded = true; state.loading = undefined },
      (err: unknown) => { state.loading = undefined; throw err })
    await state.loading
  }

  async #load (conv: string, state: ConvState): Promise<void> {
    const range = prefixRange(`m!${conv}!`)
    let newest = 0
    let oldest = 0
    for await (const key of this.#store.keys({ ...range, reverse: true, limit: 1 })) newest = seqOf(key)
    for await (const key of this.#store.keys({ ...range, limit: 1 })) oldest = seqOf(key)
    const pruned = await this.#store.get<number>(`p!${conv}`) ?? 0
    state.last = Math.max(newest, pruned)
    state.first = oldest > 0 ? oldest : state.last + 1
  }

  async #run (conv: string, state: ConvState): Promise<void> {
    while (state.jobs.length > 0) {
      try {
        await this.#loaded(conv, state)
      } catch (cause) {
        const err = new StoreError(`cannot read the log of ${conv}`, { cause })
        for (const job of state.jobs.splice(0)) job.reject(err)
        break
      }
      const head = state.jobs[0]
      if (head.type === 'prune') {
        state.jobs.shift()
        await this.#pruneChunk(conv, state, head)
        continue
      }
      if (head.type === 'recall') {
        state.jobs.shift()
        await this.#recall(conv, state, head)
        continue
      }
      const end = state.jobs.findIndex(job => job.type !== 'append')
      const group = state.jobs.splice(0, end < 0 ? state.jobs.length : end) as Array<Extract<Job, { type: 'append' }>>
      await this.#appendGroup(conv, state, group)
    }
    state.running = undefined
    this.#forgetIdle()
  }

  async #appendGroup (conv: string, state: ConvState, group: Array<Extract<Job, { type: 'append' }>>): Promise<void> {
    try {
      const idKeys = group.map(job => idempotencyKey(conv, job.draft.from, job.draft.cid))
      const storedSeqs = await this.#idReads.getMany<number>(idKeys)
      // a resend is rare: read the stored envelopes only when some cid was seen before
      const storedEnvelopes = storedSeqs.every(seq => seq === undefined)
        ? storedSeqs as Array<Envelope | undefined>
        : await this.#store.getMany<Envelope>(storedSeqs.map(seq => messageKey(conv, seq ?? 0)))
      const results: AppendResult[] = []
      const inGroup = new Map<string, Envelope>()
      const ops: GroupCommitOperation[] = []
      let last = state.last
      for (const [i, job] of group.entries()) {
        const earlier = storedEnvelopes[i] ?? inGroup.get(idKeys[i])
        if (earlier !== undefined) {
          results.push({ envelope: earlier, duplicate: true })
          continue
        }
        const seq = ++last
        const { from, device, cid, kind, body, ts } = job.draft
        const envelope: Envelope = { id: `${conv}/${seq}`, conv, seq, from, device, cid, ts: ts ?? Date.now(), kind, body }
        inGroup.set(idKeys[i], envelope)
        ops.push(this.#store.put(messageKey(conv, seq), envelope), this.#store.put(idKeys[i], seq))
        results.push({ envelope, duplicate: false })
      }
      await this.#store.write(ops)
      state.last = last
      for (const [i, job] of group.entries()) job.resolve(results[i])
    } catch (cause) {
      const err = cause instanceof StoreError ? cause : new StoreError(`cannot append to ${conv}`, { cause })
      for (const job of group) job.reject(err)
      // whether the batch reached the disk is unknown: read the counter again
      state.loaded = false
    }
  }

  async #pruneChunk (conv: string, state: ConvState, job: Extract<Job, { type: 'prune' }>): Promise<void> {
    try {
      const { maxCount, maxAgeMs, now = Date.now() } = job.options
      // seqs <= byCount go whatever their age; the rest while older than cutoff
      const byCount = maxCount === undefined ? 0 : state.last - maxCount
      const cutoff = maxAgeMs === undefined ? -Infinity : now - maxAgeMs
      const ops: GroupCommitOperation[] = []
      let through = 0
      let removed = 0
      if (state.first <= state.last) {
        const range = { gte: messageKey(conv, state.first), lte: messageKey(conv, state.last), limit: PRUNE_CHUNK }
        for await (const [key, envelope] of this.#store.entries<Envelope>(range)) {
          if (envelope.seq > byCount && !(envelope.ts < cutoff)) break
          ops.push(this.#store.del(key), this.#store.del(idempotencyKey(conv, envelope.from, envelope.cid)))
          through = envelope.seq
          removed++
        }
      }
      if (removed > 0) {
        ops.push(this.#store.put(`p!${conv}`, through))
        await this.#store.write(ops)
        state.first = through + 1
        job.removed += removed
      }
      if (removed === PRUNE_CHUNK) {
        state.jobs.push(job) // the rest after the appends that queued meanwhile
      } else {
        job.resolve(job.removed)
      }
    } catch (cause) {
      job.reject(new StoreError(`cannot prune ${conv}`, { cause }))
      state.loaded = false
    }
  }

  /**
   * The target, then its edits, found by reading the log after it (a recall
   * is rare; an index of edits would cost every append), a chunk per synced
   * batch. Like a prune, a long look goes on after the appends queued
   * meanwhile: those land after the chunk's end, so it reaches them too.
   */
  async #recall (conv: string, state: ConvState, job: Extract<Job, { type: 'recall' }>): Promise<void> {
    try {
      const ops: GroupCommitOperation[] = []
      if (job.tombstone === undefined || job.after === undefined) {
        const target = job.seq < state.first ? undefined : await this.#store.get<Envelope>(messageKey(conv, job.seq))
        if (target === undefined) {
          job.resolve(undefined)
          return
        }
        job.tombstone = tombstoneOf(target, job.deleted)
        if (job.tombstone !== target) ops.push(this.#store.put(messageKey(conv, job.seq), job.tombstone))
        job.after = job.editsAfter
      }
      const mark = job.tombstone.deleted ?? job.deleted
      let read = 0
      if (job.after < state.last) {
        const range = { gt: messageKey(conv, job.after), lte: messageKey(conv, state.last), limit: RECALL_CHUNK }
        for await (const [key, envelope] of this.#store.entries<Envelope>(range)) {
          read++
          job.after = envelope.seq
          if (isLiveEditOf(envelope, job.seq)) ops.push(this.#store.put(key, tombstoneOf(envelope, mark)))
        }
      }
      if (ops.length > 0) await this.#store.write(ops)
      if (read === RECALL_CHUNK) state.jobs.push(job) // the rest after the appends that queued meanwhile
      else job.resolve(job.tombstone)
    } catch (cause) {
      job.reject(new StoreError(`cannot recall ${conv}/${job.seq}`, { cause }))
      state.loaded = false
    }
  }

  #forgetIdle (): void {
    if (this.#states.size < this.#idleConvsKept) return
    for (const [conv, state] of this.#states) {
      if (this.#states.size < this.#idleConvsKept) break
      // An idle state holds exactly what #load would read back, so it may go;
      // one with jobs never may, or a second runner would count the same seqs.
      if (state.running === undefined && state.jobs.length === 0) this.#states.delete(conv)
    }
  }
}

function messageKey (conv: string, seq: number): string {
  return `m!${conv}!${String(seq).padStart(SEQ_DIGITS, '0')}`
}

function seqOf (key: string): number {
  const seq = Number(key.slice(key.lastIndexOf('!') + 1))
  if (!Number.isSafeInteger(seq) || seq < 1) throw new StoreError(`not a message key: ${key}`)
  return seq
}

function idempotencyKey (conv: string, from: string, cid: string): string {
  return `i!${conv}!${from}!${cid}`
}
