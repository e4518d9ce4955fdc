import type { Logger } from 'pino'
import { ImError, type Caller } from '../broker/index.js'
import type { ErrorCode } from '../protocol/index.js'
import type { Call } from './call.js'
import { MAX_SIGNAL_BYTES } from '../protocol/index.js'
import { signalSchema } from '../protocol/schemas.js'
import type { CallSession } from './call-session.js'
import { mediaErrorCode } from './load-media.js'

export interface SignalInput {
  caller: Caller
  callId: string | null
  payload: Buffer
  call: Call | undefined
  session: CallSession | undefined
  /** Publish an event on the sender's reply topic. */
  reply: (event: Record<string, unknown>) => void
  log: Logger
}

/** The largest signal as JSON: escaping (CRLF → \\r\\n) may double it; the SDP itself is measured after parsing. */
const PAYLOAD_LIMIT = 2 * MAX_SIGNAL_BYTES + 1024

/**
 * A device's signal on im/call/{callId}/signal: size-capped, parsed and
 * validated here before the media relay (which checks SDP structure again)
 * or the other device sees it. Every refusal is an error event
 * `{ type: 'error', ref: callId, error }` on the sender's reply topic; the
 * call and every other call go on. Never rejects: the PUBLISH is acknowledged.
 */
export async function handleSignal (input: SignalInput): Promise<void> {
  const { caller, callId, payload, call, session, reply, log } = input
  try {
    if (call === undefined || session === undefined) throw new ImError('HAIL_ERR_CALL_NOT_FOUND', `no call ${callId ?? ''}`)
    if (payload.length > PAYLOAD_LIMIT) throw new ImError('HAIL_ERR_TOO_LARGE', `a signal is at most ${MAX_SIGNAL_BYTES} bytes; this one is ${payload.length}`)
    let json: unknown
    try {
      json = JSON.parse(payload.toString('utf8'))
    } catch {
      throw new ImError('HAIL_ERR_BAD_REQUEST', 'a signal is JSON: {"type":"offer"|"answer","sdp":...} or {"type":"candidate","candidate":{...}}')
    }
    const parsed = signalSchema.safeParse(json)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const path = issue.path.join('.')
      const code: ErrorCode = path.startsWith('sdp') ? 'HAIL_ERR_SDP' : path.startsWith('candidate') ? 'HAIL_ERR_CANDIDATE' : 'HAIL_ERR_BAD_REQUEST'
      throw new ImError(code, `bad signal: ${path === '' ? '' : path + ': '}${issue.message}`)
    }
    if (!call.isParticipant(caller)) throw new ImError('HAIL_ERR_CALL_STATE', `you are not in call ${call.id} on this device`)
    await session.signal(`${caller.user}/${caller.device}`, parsed.data)
  } catch (err) {
    const code = codeOf(err)
    if (code === 'HAIL_ERR_INTERNAL') log.error({ err, callId }, 'signal failed')
    else log.debug({ err, callId }, 'signal refused')
    const message = code === 'HAIL_ERR_INTERNAL' ? 'the server could not handle this signal' : (err as Error).message
    reply({ type: 'error', ref: callId, error: { code, message } })
  }
}

/** ImError and media/'s MediaError carry a protocol code; anything else is the server's fault. */
function codeOf (err: unknown): ErrorCode {
  if (err instanceof ImError) return err.code
  const media = mediaErrorCode(err)
  if (media !== undefined) return media === 'HAIL_ERR_MEDIA_STATE' ? 'HAIL_ERR_SIGNAL_STATE' : media
  return 'HAIL_ERR_INTERNAL'
}
