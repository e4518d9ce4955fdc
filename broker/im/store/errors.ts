import { HailError } from '../../errors.js'

export { StoreError, NotFoundError } from '../../errors.js'

/**
 * A store was handed a value it cannot keep: a malformed conversation id or
 * user name, a seq that is not a whole number, a body JSON cannot encode.
 * Nothing was written. The engine validates client input before it reaches a
 * store, so this means a bug or a client input that slipped through.
 */
export class StoreInputError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_STORE_INPUT', message, options)
    this.name = 'StoreInputError'
  }
}
