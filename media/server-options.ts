import { MediaError } from './errors.js'
import type { MediaServerOptions } from './types.js'

/**
 * The port range and announced addresses of MediaServer and MediaWorkers
 * options, defaulted and checked: one rule for both, so a room in a worker
 * refuses what a room in the main thread refuses.
 */
export function checkServerOptions (options: MediaServerOptions): { portRange: { min: number, max: number }, announced: readonly string[] } {
  const portRange = options.portRange ?? { min: 40000, max: 40999 }
  if (!Number.isInteger(portRange.min) || !Number.isInteger(portRange.max) || portRange.min < 1 || portRange.max > 65535 || portRange.min > portRange.max) {
    throw new MediaError('HAIL_ERR_MEDIA_STATE', `bad portRange ${JSON.stringify(portRange)}`)
  }
  const announced = options.announcedAddresses ?? ['127.0.0.1']
  if (announced.length === 0) throw new MediaError('HAIL_ERR_MEDIA_STATE', 'announcedAddresses must not be empty')
  return { portRange, announced }
}
