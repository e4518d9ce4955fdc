import { z } from 'zod'
import { topics } from '../../../protocol/index.js'
import type { Caller, ImContext } from '../im-context.js'
import { notMember } from '../im-error.js'
import { decodeJson, validate } from '../payload.js'
import { Publisher } from '../publisher.js'

const typingRequest = z.strictObject({ typing: z.boolean() })

/**
 * A typing indicator published on im/typing/{conv} (QoS 0): relayed to the
 * other members' inboxes, never stored. Channels have no typing. A bad one
 * is dropped: typing is chatter; why is said at debug level only.
 */
export function handleTyping (ctx: ImContext, caller: Caller, conv: string, payload: Buffer): void {
  try {
    const { typing } = validate(typingRequest, decodeJson(payload, 1024))
    if (ctx.membership.role(conv, caller.user) === undefined) throw notMember(conv)
    if (conv.startsWith('c:')) return
    const event = Publisher.encode({ type: 'typing', conv, from: caller.user, device: caller.device, typing })
    for (const user of ctx.membership.members(conv).keys()) {
      if (user === caller.user) continue
      ctx.publisher.send(topics.inbox(user, conv), event, 0).catch(() => {})
    }
  } catch (err) {
    ctx.log.debug({ err, conv }, 'typing indicator dropped')
  }
}
