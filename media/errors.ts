/**
 * Errors raised by media/. Each has a stable, greppable `code`; callers (the
 * bridge) branch on the code and send the message back to the device.
 */
export type MediaErrorCode =
  | 'HAIL_ERR_SDP' // SDP too large, unparsable or structurally wrong
  | 'HAIL_ERR_CANDIDATE' // an ICE candidate that is malformed
  | 'HAIL_ERR_SIGNAL_STATE' // a signal that does not fit the negotiation state
  | 'HAIL_ERR_MEDIA_STATE' // a room/peer that exists already, or is closed
  | 'HAIL_ERR_MEDIA' // werift refused an input or failed internally

export class MediaError extends Error {
  readonly code: MediaErrorCode

  constructor (code: MediaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MediaError'
    this.code = code
  }
}
