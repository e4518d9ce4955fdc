import { open, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { GroupCommitOperation, LevelDatabase } from '../storage/index.js'
import { ByteReader } from './byte-reader.js'
import type { Damage } from './damage.js'
import { IntegrityError } from './integrity-error.js'

/** The seal's key in the root of the database: every sublevel's keys start with '!', so no store can meet it. */
export const SEAL_KEY = 'hail-seal'
/** The seal's mark beside the database, in the data directory. */
export const SEAL_FILE = 'hail-seal.json'
const SEAL_BYTES = 16
/** How often, at most, the mark follows the batches while they flow; at close it is exact. */
const MARK_INTERVAL_MS = 1000

/** Where the sealed write batches stood: the last batch's number, and how many writes all batches carried. */
export interface SealState {
  batch: number
  writes: number
}

/** A seal as the write-ahead log holds it: also how many writes its own batch carried. */
export interface BatchSealValue extends SealState {
  own: number
}

/**
 * Proof that the database kept every write batch it acknowledged. Each
 * synced group-commit batch carries one more put, the seal: the batch's
 * number and a running count of writes, so the database always knows the
 * last batch it holds. Outside the database, the mark (hail-seal.json) says
 * up to which batch the node saw batches reach disk: rewritten at most once a
 * second while batches flow (off the write path, in the background) and at
 * close. A database whose seal is behind its mark lost acknowledged writes —
 * a truncated or damaged write-ahead log that LevelDB replayed without a
 * word — and is refused until `hail repair` accepts what is left.
 *
 * Cost on the write path: one put of 16 bytes per batch, whatever its size.
 * A crash loses at most the last second of mark updates, so a log truncated
 * within its last second of writes before a kill -9 goes unseen; after a
 * clean stop the mark is exact.
 */
export class DataSeal {
  readonly #dir: string
  #next: SealState
  #committed: SealState
  #marked: SealState
  #timer: NodeJS.Timeout | undefined
  #writing: Promise<void> = Promise.resolve()
  #closed = false

  private constructor (dir: string, state: SealState) {
    this.#dir = dir
    this.#next = { ...state }
    this.#committed = { ...state }
    this.#marked = { ...state }
  }

  /**
   * The seal of an open database, with its mark checked: resolves with the
   * seal, or with what was lost when the database is behind its mark.
   */
  static async open (db: LevelDatabase, dir: string): Promise<{ seal: DataSeal, lost?: Damage }> {
    const held = await heldBy(db)
    let mark: SealState | undefined
    try {
      mark = await readMark(dir)
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err
      return { seal: new DataSeal(dir, held), lost: { file: SEAL_FILE, what: `unreadable (${err.message}), so what the database lost cannot be told` } }
    }
    const seal = new DataSeal(dir, mark !== undefined && mark.batch > held.batch ? mark : held)
    if (mark === undefined || mark.batch <= held.batch) return { seal }
    return {
      seal,
      lost: {
        file: 'write-ahead log',
        what: `the database holds write batches up to #${held.batch}, but #${mark.batch} had reached disk: ` +
          `${mark.batch - held.batch} batches (${mark.writes - held.writes} writes) are missing`
      }
    }
  }

  /** Sets the mark to what the database holds now: after a repair or a restore, the losses are known and accepted. */
  static async accept (db: LevelDatabase, dir: string): Promise<SealState> {
    const held = await heldBy(db)
    await writeMark(dir, held)
    return held
  }

  /** The seal put for the next batch, which carries `writes` write() calls. */
  next (writes: number): GroupCommitOperation {
    // From the last committed batch: batches run one at a time, and a failed one leaves no gap in the numbers.
    this.#next = { batch: this.#committed.batch + 1, writes: this.#committed.writes + writes }
    return { type: 'put', key: SEAL_KEY, value: encode(this.#next, writes), keyEncoding: 'utf8', valueEncoding: 'buffer' }
  }

  /** The batch of the last next() reached disk. */
  committed (): void {
    this.#committed = this.#next
    if (this.#timer === undefined && !this.#closed) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined
        this.#mark()
      }, MARK_INTERVAL_MS)
      this.#timer.unref()
    }
  }

  /** The last sealed batch that reached disk. */
  get state (): SealState {
    return { ...this.#committed }
  }

  /** Writes the exact mark; call once the last batch has settled, before closing the database. */
  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#mark()
    await this.#writing
  }

  #mark (): void {
    const state = this.#committed
    if (state.batch === this.#marked.batch) return
    this.#writing = this.#writing.then(async () => {
      await writeMark(this.#dir, state)
      this.#marked = state
    }).catch(() => {
      // A mark not written only weakens the next start's check; the batches themselves are on disk.
    })
  }
}

/** The seal a database holds: its last sealed batch. */
export async function heldBy (db: LevelDatabase): Promise<SealState> {
  const value = await db.get(SEAL_KEY, { keyEncoding: 'utf8', valueEncoding: 'buffer' }) as Buffer | undefined
  if (value === undefined) return { batch: 0, writes: 0 }
  const { batch, writes } = decodeSeal(value)
  return { batch, writes }
}

/** 16 bytes: the batch's number (48 bits), the running count of writes (48 bits), the batch's own writes (32 bits). */
function encode (state: SealState, own: number): Buffer {
  const buf = Buffer.alloc(SEAL_BYTES)
  buf.writeUIntBE(state.batch, 0, 6)
  buf.writeUIntBE(state.writes, 6, 6)
  buf.writeUInt32BE(Math.min(own, 0xffffffff), 12)
  return buf
}

export function decodeSeal (buf: Buffer): BatchSealValue {
  return buf.length === SEAL_BYTES
    ? { batch: buf.readUIntBE(0, 6), writes: buf.readUIntBE(6, 6), own: buf.readUInt32BE(12) }
    : { batch: 0, writes: 0, own: 0 }
}

export async function readMark (dir: string): Promise<SealState | undefined> {
  let text: string
  try {
    text = await readFile(join(dir, SEAL_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const mark = JSON.parse(text) as Partial<SealState> | null
  if (!Number.isSafeInteger(mark?.batch) || !Number.isSafeInteger(mark?.writes)) throw new SyntaxError('no batch and writes in it')
  return { batch: mark!.batch!, writes: mark!.writes! }
}

/** Replaces the mark atomically: a crash leaves the old one or the new one, never half of either. */
async function writeMark (dir: string, state: SealState): Promise<void> {
  const path = join(dir, SEAL_FILE)
  const temp = `${path}.tmp`
  const file = await open(temp, 'w', 0o600)
  try {
    await file.writeFile(JSON.stringify({ batch: state.batch, writes: state.writes, at: new Date().toISOString() }) + '\n')
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(temp, path).catch(async (err: unknown) => {
    await unlink(temp).catch(() => {})
    throw err
  })
}

const SEAL_KEY_BYTES = Buffer.from(SEAL_KEY)
const PUT = 1
const DELETE = 0

/**
 * The seals a write-ahead log record carries. A record is one WriteBatch
 * (leveldb/db/write_batch.cc: sequence, count, then puts and deletes), but
 * not always one of ours: LevelDB merges the batches of writers queued behind
 * a synced one into a single record (DBImpl::BuildBatchGroup), so a sealed
 * batch followed by the journal's unsynced deletes leaves its seal in the
 * middle. Every entry is read; a record holds at most one seal (sealed
 * batches are written one at a time). Throws IntegrityError for a record that
 * is not a WriteBatch.
 */
export function sealsOfBatch (record: Buffer): BatchSealValue[] {
  if (record.length < 12) throw new IntegrityError('a record shorter than a write batch header')
  const r = new ByteReader(record, 12)
  const count = record.readUInt32LE(8)
  const seals: BatchSealValue[] = []
  for (let i = 0; i < count; i++) {
    const type = r.byte()
    if (type !== PUT && type !== DELETE) throw new IntegrityError(`write batch entry ${i} of unknown type ${type}`)
    const key = r.lengthPrefixed()
    if (type === DELETE) continue
    const value = r.lengthPrefixed()
    if (value.length === SEAL_BYTES && key.equals(SEAL_KEY_BYTES)) seals.push(decodeSeal(value))
  }
  if (!r.done) throw new IntegrityError(`write batch longer than its ${count} entries`)
  return seals
}
