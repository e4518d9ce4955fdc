import { ByteReader } from './byte-reader.js'
import { IntegrityError } from './integrity-error.js'
import type { LogContents } from './level-log.js'

/** What the MANIFEST says the database is made of (leveldb/db/version_edit.cc). */
export interface ManifestState {
  /** Logs numbered from this on (and prevLogNumber) are replayed at open. */
  logNumber: number
  prevLogNumber: number
  /** Live table files: number -> size in bytes. */
  tables: Map<number, number>
}

// VersionEdit tags
const COMPARATOR = 1
const LOG_NUMBER = 2
const NEXT_FILE_NUMBER = 3
const LAST_SEQUENCE = 4
const COMPACT_POINTER = 5
const DELETED_FILE = 6
const NEW_FILE = 7
const PREV_LOG_NUMBER = 9

/** Applies every version edit of a MANIFEST's records, in order; throws IntegrityError on one that does not parse. */
export function replayManifest (log: LogContents): ManifestState {
  const state: ManifestState = { logNumber: 0, prevLogNumber: 0, tables: new Map() }
  for (const record of log.records) {
    const r = new ByteReader(record)
    while (!r.done) {
      const tag = r.varint()
      switch (tag) {
        case COMPARATOR: r.lengthPrefixed(); break
        case LOG_NUMBER: state.logNumber = r.varint(); break
        case PREV_LOG_NUMBER: state.prevLogNumber = r.varint(); break
        case NEXT_FILE_NUMBER: r.varint(); break
        case LAST_SEQUENCE: r.varint(); break
        case COMPACT_POINTER: r.varint(); r.lengthPrefixed(); break
        case DELETED_FILE: r.varint(); state.tables.delete(r.varint()); break
        case NEW_FILE: {
          r.varint() // level
          const number = r.varint()
          state.tables.set(number, r.varint())
          r.lengthPrefixed() // smallest key
          r.lengthPrefixed() // largest key
          break
        }
        default: throw new IntegrityError(`unknown version edit tag ${tag}`)
      }
    }
  }
  return state
}
