import { GroupCommit, type GroupCommitOperation, type LevelDatabase } from './group-commit.js'
import { StoreError } from '../errors.js'

const UTF8 = 'utf8'

export interface KeyRange {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  reverse?: boolean
  limit?: number
}

/**
 * A sublevel of the server's one database holding JSON values under string
 * keys, written through a group commit made on that database (so the IM
 * stores, the journal and aedes' persistence share fsyncs and one
 * write-ahead log). Encodings are given on every call: the root database
 * may default to buffers.
 */
export class LevelJson {
  readonly db: LevelDatabase
  readonly groupCommit: GroupCommit
  readonly #sublevel: LevelDatabase | undefined

  constructor (db: LevelDatabase, groupCommit: GroupCommit, what: string) {
    if (!groupCommit.covers(db)) {
      throw new StoreError(`the ${what} and its group commit must use one database`)
    }
    this.db = db
    this.groupCommit = groupCommit
    this.#sublevel = groupCommit.db === db ? undefined : db
  }

  put (key: string, value: unknown): GroupCommitOperation {
    return this.#op({ type: 'put', key, value: JSON.stringify(value), keyEncoding: UTF8, valueEncoding: UTF8 })
  }

  del (key: string): GroupCommitOperation {
    return this.#op({ type: 'del', key, keyEncoding: UTF8 })
  }

  /** Writes `ops` atomically; resolves once the group commit has them on disk. */
  write (ops: GroupCommitOperation[]): Promise<void> {
    return this.groupCommit.write(ops)
  }

  async get<T> (key: string): Promise<T | undefined> {
    const value = await this.db.get(key, { keyEncoding: UTF8, valueEncoding: UTF8 }) as string | undefined
    return value === undefined ? undefined : JSON.parse(value) as T
  }

  async getMany<T> (keys: string[]): Promise<Array<T | undefined>> {
    if (keys.length === 0) return []
    const values = await this.db.getMany(keys, { keyEncoding: UTF8, valueEncoding: UTF8 }) as Array<string | undefined>
    return values.map(value => value === undefined ? undefined : JSON.parse(value) as T)
  }

  async * entries<T> (range: KeyRange): AsyncGenerator<[string, T]> {
    for await (const [key, value] of this.db.iterator({ ...range, keyEncoding: UTF8, valueEncoding: UTF8 })) {
      yield [key as string, JSON.parse(value as string) as T]
    }
  }

  async * keys (range: KeyRange): AsyncGenerator<string> {
    for await (const key of this.db.keys({ ...range, keyEncoding: UTF8 })) yield key as string
  }

  #op (op: GroupCommitOperation): GroupCommitOperation {
    if (this.#sublevel !== undefined) op.sublevel = this.#sublevel
    return op
  }
}

/**
 * The key range of every key starting with `prefix`, where `prefix` ends in
 * the separator '!' (0x21): '"' is the next character, and no id used in a
 * key contains '!', so one id's range never holds another id's keys.
 */
export function prefixRange (prefix: string): { gte: string, lt: string } {
  if (!prefix.endsWith('!')) throw new StoreError(`key prefix must end in '!': ${prefix}`)
  return { gte: prefix, lt: prefix.slice(0, -1) + '"' }
}
