import type { Logger } from 'pino'
import { MediaServer } from '../media/index.js'
import type { CallsConfig } from './calls-config.js'
import type { MediaRooms } from './media-port.js'

/** The media relay the calls config describes: media/'s MediaServer (werift) on the configured ports and addresses. */
export function createMediaRooms (config: Readonly<CallsConfig>, logger?: Logger): MediaRooms {
  return new MediaServer({
    portRange: { min: config.mediaPortMin, max: config.mediaPortMax },
    listenAddress: config.mediaListenAddress,
    announcedAddresses: [...config.announcedAddresses],
    iceServers: config.iceServers.map((s) => ({ ...s })),
    statsIntervalMs: config.statsIntervalMs,
    logger
  })
}
