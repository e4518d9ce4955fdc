import type { z } from 'zod'
import { describeIssues } from '../config.js'
import { ImError } from './im-error.js'

/** Bytes → JSON → schema, each failure an error the sender can act on. */
export function parsePayload<S extends z.ZodType> (schema: S, payload: Buffer, maxBytes: number): z.output<S> {
  return validate(schema, decodeJson(payload, maxBytes))
}

export function decodeJson (payload: Buffer, maxBytes: number): unknown {
  if (payload.length > maxBytes) {
    throw new ImError('HAIL_ERR_TOO_LARGE', `payload of ${payload.length} bytes is over the limit of ${maxBytes}`)
  }
  let value: unknown
  try {
    value = JSON.parse(payload.toString('utf8'))
  } catch {
    throw new ImError('HAIL_ERR_BAD_REQUEST', 'payload is not JSON')
  }
  checkShape(value)
  return value
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** How deep a payload's objects and arrays may nest (a message body is data, not a tree). */
export const MAX_PAYLOAD_DEPTH = 32
/** How many values (object members, array items, scalars) one payload may hold. */
export const MAX_PAYLOAD_VALUES = 10_000

/**
 * Refuses what JSON.parse accepts but the rest of the path cannot carry: nesting deep
 * enough to overflow a recursive encoder later (a 20,000-deep body once threw from the
 * store and closed its sender's connection on every resend), too many values, and strings
 * that are not well-formed UTF-16 (a lone surrogate, which no UTF-8 peer can decode).
 * Iterative: the check itself cannot overflow.
 */
function checkShape (root: unknown): void {
  const stack: Array<[unknown, number]> = [[root, 1]]
  let values = 0
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!
    if (++values > MAX_PAYLOAD_VALUES) throw new ImError('HAIL_ERR_BAD_REQUEST', `payload holds more than ${MAX_PAYLOAD_VALUES} values`)
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) throw new ImError('HAIL_ERR_BAD_REQUEST', 'payload has a string that is not well-formed Unicode (a lone surrogate)')
      continue
    }
    if (value === null || typeof value !== 'object') continue
    if (depth > MAX_PAYLOAD_DEPTH) throw new ImError('HAIL_ERR_BAD_REQUEST', `payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`)
    if (Array.isArray(value)) {
      for (const item of value) stack.push([item, depth + 1])
    } else {
      for (const [key, item] of Object.entries(value)) {
        if (LONE_SURROGATE.test(key)) throw new ImError('HAIL_ERR_BAD_REQUEST', 'payload has a key that is not well-formed Unicode (a lone surrogate)')
        stack.push([item, depth + 1])
      }
    }
  }
}

export function validate<S extends z.ZodType> (schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value)
  if (!result.success) throw new ImError('HAIL_ERR_BAD_REQUEST', describeIssues(result.error))
  return result.data
}
