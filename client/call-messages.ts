import {
  CALL_EVENTS, type CallEventName, type CallNotice, type CallQuality, type CallSignalNotice, type Signal
} from '../protocol/index.js'

/** A call message the SDK read from its inbox or reply topic. */
export type CallPayload =
  | { kind: 'notice', notice: CallNotice }
  | { kind: 'signal', signal: CallSignalNotice }
  | { kind: 'stats', stats: CallQuality }

const EVENTS = new Set<string>(CALL_EVENTS)
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isString = (v: unknown): v is string => typeof v === 'string'

/** Whether `value` is a Signal of the protocol; the peer connection checks the SDP itself. */
export function isSignal (value: unknown): value is Signal {
  if (!isObject(value)) return false
  if (value.type === 'offer' || value.type === 'answer') return isString(value.sdp)
  if (value.type !== 'candidate' || !isObject(value.candidate)) return false
  const c = value.candidate
  return isString(c.candidate) && (c.sdpMid === undefined || c.sdpMid === null || isString(c.sdpMid)) &&
    (c.sdpMLineIndex === undefined || c.sdpMLineIndex === null || Number.isInteger(c.sdpMLineIndex))
}

/**
 * A parsed JSON payload → the call message it is, undefined when it is not
 * a call message at all, or a problem when it claims to be one but is not.
 */
export function parseCallPayload (value: unknown): CallPayload | { problem: string } | undefined {
  if (!isObject(value) || (value.v !== 1 && value.v !== 2) || !isString(value.type) || !value.type.startsWith('call')) return undefined
  const callId = value.callId
  if (!isString(callId)) return { problem: `a ${value.type} without a callId` }
  switch (value.type) {
    case 'call': {
      const { event, conv, from, media, mode } = value
      if (!isString(event) || !EVENTS.has(event)) return { problem: `call event '${String(event)}' unknown` }
      if (!isString(conv) || !isString(from)) return { problem: `a call ${event} without conv or from` }
      const notice: CallNotice = {
        event: event as CallEventName,
        callId,
        conv,
        from,
        media: isObject(media) ? { audio: media.audio === true, video: media.video === true } : { audio: true, video: false },
        mode: mode === 'p2p' ? 'p2p' : 'sfu'
      }
      if (isString(value.by)) notice.by = value.by
      if (isString(value.reason)) notice.reason = value.reason
      return { kind: 'notice', notice }
    }
    case 'call.signal': {
      if (!isSignal(value.signal)) return { problem: 'a call.signal without a valid signal' }
      const signal: CallSignalNotice = { callId, signal: value.signal }
      if (isString(value.from)) signal.from = value.from
      return { kind: 'signal', signal }
    }
    case 'call.stats': {
      if (!Array.isArray(value.peers)) return { problem: 'a call.stats without peers' }
      const ts = typeof value.ts === 'number' ? value.ts : Date.now()
      return { kind: 'stats', stats: { callId, ts, peers: value.peers as CallQuality['peers'] } }
    }
    default:
      return undefined
  }
}
