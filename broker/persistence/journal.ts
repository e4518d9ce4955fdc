import type { IPublishPacket } from 'mqtt-packet'
import { StoreError } from '../errors.js'
import { GroupCommit, type GroupCommitOperation, type LevelDatabase } from '../storage/index.js'
import { packetCodec, type StoredPacket } from './packet-codec.js'

/**
 * A journaled PUBLISH as pending() returns it: the fields needed to publish
 * it again (cmd, topic, payload, qos, retain, dup, messageId and MQTT 5
 * properties when present), the payload always a Buffer.
 */
export type JournalPacket = IPublishPacket & { payload: Buffer }

/** An entry's key: fixed-width decimal digits, growing across restarts. */
export type JournalKey = string

export interface JournalEntry {
  key: JournalKey
  packet: JournalPacket
}

// Entry keys are fixed-width decimals so that key order is append order; the
// high-water mark lives beside them under a key that sorts after every digit.
const KEY_DIGITS = 16
const ENTRIES = { gte: '0', lt: ':' }
const HIGH_WATER_KEY = 'h'
const UTF8 = 'utf8'
const BUFFER = 'buffer'

/**
 * The "PUBACK means durable" log. aedes 1.2 sends PUBACK before its
 * persistence stores anything, so every QoS>0 publish is appended here, synced,
 * before aedes may acknowledge it; once aedes has stored and enqueued it the
 * entry is completed (deleted). Entries still present at start are the
 * publishes a crash interrupted, and are replayed.
 *
 * Completing is a plain, unsynced delete: LevelDB's write-ahead log keeps
 * order, so a delete that survives a crash implies the persistence writes
 * made before it survived too, as long as the journal and the persistence
 * live in one database.
 */
export class Journal {
  readonly #db: LevelDatabase
  readonly #groupCommit: GroupCommit
  /** Orders deletes and high-water marks: a later mark must never land first. */
  readonly #deletes: GroupCommit
  readonly #sublevel: LevelDatabase | undefined
  #opened: Promise<void> | undefined
  #next = -1
  #highWater = -1
  /** Completed keys waiting for the turn's batch. */
  #completed: JournalKey[] = []
  /** That batch written; one promise for every completion of the turn. */
  #completing: Promise<void> | undefined

  /**
   * `db` is the journal's own sublevel of the shared database. Pass the
   * server's group commit (made on the root database) so appends share
   * fsyncs with subscription changes; by default the journal makes its own.
   */
  constructor (db: LevelDatabase, groupCommit?: GroupCommit) {
    this.#db = db
    this.#groupCommit = groupCommit ?? new GroupCommit(db)
    if (!this.#groupCommit.covers(db)) {
      throw new StoreError('the journal and its group commit must use one database')
    }
    this.#sublevel = this.#groupCommit.db === db ? undefined : db
    // on the root like the appends (ops name the sublevel): a batch on a sublevel is prepared twice
    this.#deletes = new GroupCommit(this.#groupCommit.db, { sync: false })
  }

  /** Finds where the keys left off; append() and pending() call it if needed. */
  open (): Promise<void> {
    this.#opened ??= this.#resume()
    return this.#opened
  }

  async #resume (): Promise<void> {
    let last = -1
    for await (const key of this.#db.keys({ ...ENTRIES, reverse: true, limit: 1, keyEncoding: UTF8 })) {
      last = parseKey(key as string)
    }
    const mark = await this.#db.get(HIGH_WATER_KEY, { keyEncoding: UTF8, valueEncoding: UTF8 }) as string | undefined
    this.#highWater = mark === undefined ? -1 : parseKey(mark)
    this.#next = Math.max(last, this.#highWater) + 1
  }

  /**
   * Appends `packet` and resolves with its key once it is on disk. Keys grow
   * across restarts.
   */
  async append (packet: StoredPacket): Promise<JournalKey> {
    if (this.#next < 0) await this.open()
    // taken synchronously, so keys follow the order of append() calls
    const key = formatKey(this.#next++)
    await this.#groupCommit.write([
      this.#sub({ type: 'put', key, value: encodeJournalEntry(packet), keyEncoding: UTF8, valueEncoding: BUFFER })
    ])
    return key
  }

  /**
   * Forgets an entry once aedes has stored what it carried. Completions of
   * one event-loop turn go in one batch, with one high-water mark, and share
   * the promise returned.
   */
  complete (key: JournalKey): Promise<void> {
    this.#completed.push(key)
    this.#completing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#writeCompleted())
    return this.#completing
  }

  async #writeCompleted (): Promise<void> {
    await this.open()
    const keys = this.#completed
    this.#completed = []
    this.#completing = undefined
    const ops: GroupCommitOperation[] = []
    let newest = -1
    for (const key of keys) {
      ops.push(this.#sub({ type: 'del', key, keyEncoding: UTF8 }))
      const n = parseKey(key)
      if (n > newest) newest = n
    }
    if (newest > this.#highWater) {
      // whenever the newest entry disappears its key must stay known, or a
      // restart with an empty journal would hand out the same keys again
      this.#highWater = newest
      ops.push(this.#sub({ type: 'put', key: HIGH_WATER_KEY, value: formatKey(newest), keyEncoding: UTF8, valueEncoding: UTF8 }))
    }
    await this.#deletes.write(ops)
  }

  /** Entries not completed yet, oldest first. */
  async * pending (): AsyncGenerator<JournalEntry> {
    await this.open()
    for await (const [key, value] of this.#db.iterator({ ...ENTRIES, keyEncoding: UTF8, valueEncoding: BUFFER })) {
      yield { key: key as string, packet: packetCodec.decode(value as Buffer) as unknown as JournalPacket }
    }
  }

  /** Resolves once every append and completion issued so far has settled. */
  async flush (): Promise<void> {
    await Promise.all([this.#groupCommit.flush(), this.#completing?.catch(noop), this.#deletes.flush()])
    // completions the batch above waited for went to #deletes meanwhile
    await this.#deletes.flush()
  }

  /** `op` on the journal's sublevel, written through a group commit on the root. */
  #sub (op: GroupCommitOperation): GroupCommitOperation {
    if (this.#sublevel !== undefined) op.sublevel = this.#sublevel
    return op
  }
}

/**
 * packetCodec.encode(journalFields(packet)), byte for byte, without the
 * intermediate object (shared with redis-journal.ts).
 */
export function encodeJournalEntry (packet: StoredPacket): Buffer {
  const payload = packet.payload
  return packetCodec.encodePublish(
    packet.topic as string,
    typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload ?? EMPTY,
    packet.qos ?? 0,
    packet.retain ?? false,
    packet.dup ?? false,
    typeof packet.messageId === 'number' ? packet.messageId : undefined,
    packet.properties
  )
}

const EMPTY = Buffer.alloc(0)

/** The fields of a PUBLISH a journal keeps (shared with redis-journal.ts). */
export function journalFields (packet: StoredPacket): StoredPacket {
  const kept: StoredPacket = {
    cmd: 'publish',
    topic: packet.topic,
    payload: typeof packet.payload === 'string'
      ? Buffer.from(packet.payload, 'utf8')
      : packet.payload ?? Buffer.alloc(0),
    qos: packet.qos ?? 0,
    retain: packet.retain ?? false,
    dup: packet.dup ?? false
  }
  if (typeof packet.messageId === 'number') kept.messageId = packet.messageId
  if (packet.properties !== undefined) kept.properties = packet.properties
  return kept
}

function formatKey (n: number): string {
  return String(n).padStart(KEY_DIGITS, '0')
}

function parseKey (key: string): number {
  const n = Number(key)
  if (!Number.isSafeInteger(n) || n < 0) throw new StoreError(`not a journal key: ${key}`)
  return n
}

function noop (): void {}
