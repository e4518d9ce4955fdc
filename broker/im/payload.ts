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
  try {
    return JSON.parse(payload.toString('utf8'))
  } catch {
    throw new ImError('HAIL_ERR_BAD_REQUEST', 'payload is not JSON')
  }
}

export function validate<S extends z.ZodType> (schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value)
  if (!result.success) throw new ImError('HAIL_ERR_BAD_REQUEST', describeIssues(result.error))
  return result.data
}
