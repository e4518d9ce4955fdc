import { HailError } from '../errors.js'

/** A LevelDB file does not parse; the data directory check turns it into a Damage naming the file. */
export class IntegrityError extends HailError {
  constructor (message: string) {
    super('HAIL_ERR_DATA_DAMAGED', message)
    this.name = 'IntegrityError'
  }
}
