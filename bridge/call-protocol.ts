import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { CONV_PATTERN, USER_PATTERN } from '../broker/index.js'

/** Call ids are made by the server: 24 lowercase base32 characters. */
export const CALL_ID_PATTERN = /^[a-z2-7]{24}$/
/** A signaling message (SDP or one candidate) is at most this many bytes (DESIGN.md, limits). */
export const MAX_SIGNAL_BYTES = 64 * 1024

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** A fresh call id: 120 random bits. */
export function newCallId (): string {
  return [...randomBytes(24)].map((b) => BASE32[b & 31]).join('')
}

const callId = z.string().regex(CALL_ID_PATTERN, 'not a call id')
const media = z.strictObject({ audio: z.boolean(), video: z.boolean() })
  .refine((m) => m.audio || m.video, 'a call needs audio or video')

/** The arguments of the call.* methods on im/cmd (docs/protocol.md, "Calls"); `req` is checked apart. */
export const callCommands = {
  'call.invite': z.strictObject({
    to: z.string().regex(USER_PATTERN, 'not a user name').optional(),
    conv: z.string().regex(CONV_PATTERN, 'not a conversation id').optional(),
    media,
    mode: z.enum(['sfu', 'p2p']).default('sfu')
  }).refine((a) => (a.to === undefined) !== (a.conv === undefined), 'give exactly one of "to" and "conv"'),
  'call.accept': z.strictObject({ callId }),
  'call.reject': z.strictObject({ callId }),
  'call.join': z.strictObject({ callId }),
  'call.hangup': z.strictObject({ callId })
} as const

export type CallMethod = keyof typeof callCommands
export type InviteArgs = z.output<typeof callCommands['call.invite']>

// SDP is text: printable ASCII/UTF-8 lines; NUL and other controls but CR, LF, TAB are refused here already.
const sdp = z.string().min(1).max(MAX_SIGNAL_BYTES).regex(/^[^\0-\x08\x0b\x0c\x0e-\x1f\x7f]*$/, 'SDP has control characters')

/** What a device publishes on im/call/{callId}/signal: the media Signal (media/types.ts). */
export const signalSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('offer'), sdp }),
  z.strictObject({ type: z.literal('answer'), sdp }),
  z.strictObject({
    type: z.literal('candidate'),
    candidate: z.strictObject({
      candidate: z.string().max(1024).regex(/^[^\0-\x1f\x7f]*$/, 'candidate has control characters'),
      sdpMid: z.string().max(64).nullable().optional(),
      sdpMLineIndex: z.number().int().min(0).max(255).nullable().optional()
    })
  })
])

export type CallSignal = z.output<typeof signalSchema>

export type CallMode = 'sfu' | 'p2p'
export interface CallMedia { audio: boolean, video: boolean }

/** The `event` of a call event on a party's inbox. */
export type CallEventName = 'ring' | 'accepted' | 'answered-elsewhere' | 'rejected' | 'busy' | 'cancelled' | 'missed' | 'ended' | 'joined' | 'left'

/** Why a call ended (the record's `reason`, the `ended` event's `reason`); 'node-lost': the node running it died. */
export type EndReason = 'hangup' | 'cancelled' | 'rejected' | 'missed' | 'busy' | 'disconnected' | 'shutdown' | 'failed' | 'node-lost'

/** Topics of a call: only its parties may use them. */
export const callTopics = {
  signal: (id: string): string => `im/call/${id}/signal`,
  stats: (id: string): string => `im/call/${id}/stats`
}

/** `im/call/{callId}/{leaf}` → its parts, or null. */
export function parseCallTopic (topic: string): { callId: string, leaf: string } | null {
  const levels = topic.split('/')
  if (levels.length !== 4 || levels[0] !== 'im' || levels[1] !== 'call') return null
  return { callId: levels[2]!, leaf: levels[3]! }
}
