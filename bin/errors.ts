import { HailError } from '../index.js'

/**
 * The command line itself is wrong: an unknown command or option, a missing
 * or malformed flag value. Exits 2 (the shell convention for misuse), where
 * configuration and startup failures exit 1, so scripts can tell them apart.
 */
export class UsageError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_USAGE', message, options)
    this.name = 'UsageError'
  }
}
