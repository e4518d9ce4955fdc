import { z } from 'zod'
import { clientRef, seq, userName } from './names.js'

const text = z.string().min(1).max(16_384)
const base64 = z.string().max(1_000_000).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64')

/** The body of each message kind a client may send (docs/protocol.md, "Sending"). */
export const bodies = {
  text: z.strictObject({ text, mentions: z.array(userName).max(100).optional() }),
  data: z.strictObject({
    json: z.unknown().optional(),
    base64: base64.optional(),
    contentType: z.string().max(255).optional()
  }).refine((b) => b.json !== undefined || b.base64 !== undefined, 'needs json or base64'),
  edit: z.strictObject({ ref: seq.min(1), text }),
  delete: z.strictObject({ ref: seq.min(1) }),
  reaction: z.strictObject({ ref: seq.min(1), emoji: z.string().min(1).max(32), remove: z.literal(true).optional() }),
  cipher: z.strictObject({
    alg: z.string().min(1).max(64),
    ciphertext: base64,
    keyId: z.string().max(128).optional(),
    to: z.record(z.string().max(64), base64).optional()
  }),
  file: z.strictObject({
    fileId: z.string().min(1).max(128),
    name: z.string().min(1).max(255),
    size: z.number().int().min(0),
    type: z.string().max(255)
  })
} as const

export type MessageKind = keyof typeof bodies
export const MESSAGE_KINDS = Object.keys(bodies) as MessageKind[]

/** What a client publishes on `im/send/{conv}`. */
export const sendRequest = z.strictObject({
  cid: clientRef,
  kind: z.enum(MESSAGE_KINDS as [MessageKind, ...MessageKind[]]),
  body: z.unknown()
}).superRefine((value, ctx) => {
  const result = bodies[value.kind].safeParse(value.body)
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ ...issue, path: ['body', ...issue.path] } as never)
  }
})

export type SendRequest = z.output<typeof sendRequest>
