import { z } from 'zod'
import { clientRef, convId, seq, userName } from './names.js'

const name = z.string().trim().min(1).max(128)
const uploadId = z.string().regex(/^[0-9a-f]{32}$/, 'not an upload id')
const users = z.array(userName).min(1).max(1000)
/** An FCM registration token, an APNs device token, or a Web Push subscription (as JSON). */
const pushToken = z.string().min(1).max(4096)

/** The arguments of each `im/cmd/{method}` (docs/protocol.md, "Requests"); `req` is checked apart. */
export const commands = {
  conversations: z.strictObject({}),
  sync: z.strictObject({ conv: convId, after: seq, limit: z.number().int().min(1).max(500).default(100) }),
  // a device's cursors: the conversations it has seen, with the last seq shown (one request to catch up)
  'sync.all': z.strictObject({
    after: z.record(convId, seq).refine((after) => Object.keys(after).length <= 10_000, 'more than 10000 conversations').default({}),
    limit: z.number().int().min(1).max(500).default(100)
  }),
  read: z.strictObject({ conv: convId, seq: seq.min(1) }),
  'direct.open': z.strictObject({ user: userName }),
  'group.create': z.strictObject({ name, members: z.array(userName).max(1000).default([]) }),
  'channel.create': z.strictObject({ name, public: z.boolean().default(true) }),
  'channel.follow': z.strictObject({ conv: convId }),
  'channel.unfollow': z.strictObject({ conv: convId }),
  'conv.add': z.strictObject({ conv: convId, users }),
  'conv.remove': z.strictObject({ conv: convId, users }),
  'conv.leave': z.strictObject({ conv: convId }),
  'conv.rename': z.strictObject({ conv: convId, name }),
  'conv.role': z.strictObject({ conv: convId, user: userName, role: z.enum(['admin', 'member']) }),
  'conv.members': z.strictObject({ conv: convId }),
  'presence.set': z.strictObject({ status: z.enum(['online', 'away', 'busy']) }),
  'keys.put': z.strictObject({
    keyId: z.string().min(1).max(128),
    alg: z.string().min(1).max(64),
    publicKey: z.string().min(1).max(8192).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64')
  }),
  'keys.get': z.strictObject({ user: userName }),
  'file.start': z.strictObject({
    name: z.string().min(1).max(255),
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    type: z.string().max(255).default('application/octet-stream'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'not a lowercase hex sha256')
  }),
  'file.status': z.strictObject({ uploadId }),
  'file.finish': z.strictObject({ uploadId }),
  'push.register': z.strictObject({ token: pushToken, platform: z.enum(['fcm', 'apns', 'web']) }),
  'push.unregister': z.strictObject({ token: pushToken.optional() })
} as const

export type Method = keyof typeof commands
export type CommandArgs<M extends Method> = z.output<(typeof commands)[M]>

export function isMethod (method: string): method is Method {
  return Object.hasOwn(commands, method)
}

/** Every request carries the client's correlation id. */
export const requestEnvelope = z.object({ req: clientRef }).loose()
