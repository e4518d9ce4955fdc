/** The error codes the server answers with on a reply topic (docs/protocol.md, "Errors"). */
export type ErrorCode =
  | 'HAIL_ERR_BAD_REQUEST'
  | 'HAIL_ERR_UNKNOWN_METHOD'
  | 'HAIL_ERR_TOO_LARGE'
  | 'HAIL_ERR_NOT_MEMBER'
  | 'HAIL_ERR_FORBIDDEN'
  | 'HAIL_ERR_NOT_FOUND'
  | 'HAIL_ERR_GONE'
  | 'HAIL_ERR_RATE_LIMITED'
  | 'HAIL_ERR_INTERNAL'
  | 'HAIL_ERR_FILE_HASH'
  | 'HAIL_ERR_QUOTA'
  // Calls (bridge/, docs/protocol.md "Calls")
  | 'HAIL_ERR_CALL_NOT_FOUND'
  | 'HAIL_ERR_CALL_STATE'
  | 'HAIL_ERR_BUSY'
  | 'HAIL_ERR_SDP'
  | 'HAIL_ERR_CANDIDATE'
  | 'HAIL_ERR_SIGNAL_STATE'
  | 'HAIL_ERR_MEDIA'

export interface ErrorBody { code: ErrorCode, message: string }
