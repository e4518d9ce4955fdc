import { HailError } from '../errors.js'
import type { ErrorCode } from '../../protocol/index.js'

/**
 * A request refused with one of the protocol's error codes (docs/protocol.md,
 * "Errors"). It goes back to the sender on its reply topic; the connection
 * stays up and nothing is stored.
 */
export class ImError extends HailError {
  declare readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'ImError'
  }
}

export const notMember = (conv: string): ImError =>
  new ImError('HAIL_ERR_NOT_MEMBER', `you are not a member of ${conv}`)

export const forbidden = (what: string): ImError =>
  new ImError('HAIL_ERR_FORBIDDEN', what)

export const notFound = (what: string): ImError =>
  new ImError('HAIL_ERR_NOT_FOUND', what)
