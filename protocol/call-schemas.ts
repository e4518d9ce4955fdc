import { z } from 'zod'
import { CALL_ID_PATTERN, CONV_PATTERN, USER_PATTERN } from './ids.js'
import { MAX_SIGNAL_BYTES } from './calls.js'

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

/** What a device publishes on im/call/{callId}/signal, and what it gets back. */
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
