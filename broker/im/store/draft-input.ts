import { isUserName } from './conv-id.js'
import { StoreInputError } from './errors.js'
import type { Recall } from '../../../protocol/index.js'
import { requireConvId } from './conv-id.js'
import { READ_LIMIT_DEFAULT, READ_LIMIT_MAX, type Draft, type RecallOptions } from './message-log.js'

// The message logs' input checks, one for every implementation (level and Redis).

/** Client message ids: printable ASCII without spaces, as UUIDs and ULIDs are. */
export const CID_PATTERN = /^[\x21-\x7e]{1,128}$/
const KIND_PATTERN = /^[\x21-\x7e]{1,64}$/

const SYSTEM_AUTHOR = '$system'

export interface Normalized {
  from: string
  device: string
  cid: string
  kind: string
  body: unknown
  ts: number | undefined
}

export function normalizeDraft (draft: Draft): Normalized {
  if (draft === null || typeof draft !== 'object') throw new StoreInputError('a draft must be an object')
  const { from, device, cid, kind, body, ts } = draft
  // '$system' authors the log's own events (member joined, renamed ...); no user can be named so.
  if (from !== SYSTEM_AUTHOR && !isUserName(from)) throw new StoreInputError(`from is not a user name: ${JSON.stringify(from)}`)
  if (typeof device !== 'string') throw new StoreInputError('device must be a string')
  if (typeof cid !== 'string' || !CID_PATTERN.test(cid)) throw new StoreInputError(`cid must be 1-128 printable ASCII characters: ${JSON.stringify(cid)}`)
  if (typeof kind !== 'string' || !KIND_PATTERN.test(kind)) throw new StoreInputError(`kind must be 1-64 printable ASCII characters: ${JSON.stringify(kind)}`)
  if (ts !== undefined && !Number.isFinite(ts)) throw new StoreInputError('ts must be a number of ms')
  let encoded: string | undefined
  try {
    encoded = JSON.stringify(body)
  } catch (cause) {
    throw new StoreInputError('the body is not JSON', { cause })
  }
  if (encoded === undefined) throw new StoreInputError('the body is not JSON')
  return { from, device, cid, kind, body, ts }
}

export function requireSeq (value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new StoreInputError(`${name} must be an integer >= 0, not ${String(value)}`)
  }
  return value
}

/** A read's page size: the default when unset, never above READ_LIMIT_MAX. */
export function readLimit (limit: unknown): number {
  const clamped = Math.min((limit as number | undefined) ?? READ_LIMIT_DEFAULT, READ_LIMIT_MAX)
  if (!Number.isSafeInteger(clamped) || clamped < 1) throw new StoreInputError(`read limit must be a positive integer, not ${String(limit)}`)
  return clamped
}

/**
 * A recall's arguments, checked as every message log checks them: the
 * tombstone's mark, and the seq after which edits of the target are erased.
 */
export function recallInput (conv: string, seq: number, deleted: Recall, options: RecallOptions): { mark: Recall, editsAfter: number } {
  requireConvId(conv)
  requireSeq(seq, 'seq')
  const mark = { by: deleted.by, seq: requireSeq(deleted.seq, 'deleted.seq') }
  return { mark, editsAfter: Math.max(seq, requireSeq(options.editsAfter ?? seq, 'editsAfter')) }
}
