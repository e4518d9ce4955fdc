import { randomUUID } from 'node:crypto'
import { topics } from '../../../protocol/index.js'
import type { ImContext } from '../im-context.js'
import type { Role } from '../../../protocol/index.js'

/** The author of system events in a conversation's log. */
export const SYSTEM = '$system'

/** Append a system event (member joined, renamed ...) to the log and deliver it like a message. */
export async function appendSystem (ctx: ImContext, conv: string, kind: string, body: Record<string, unknown>): Promise<number> {
  const { envelope } = await ctx.stores.log.append(conv, { from: SYSTEM, device: 'server', cid: `sys-${randomUUID()}`, kind, body })
  ctx.fanout.message(envelope)
  return envelope.seq
}

/** Tell a user's devices that a conversation of theirs appeared, changed or went away. */
export function notify (ctx: ImContext, user: string, event: 'added' | 'removed' | 'updated', conv: string, extra: { name?: string, role?: Role } = {}): void {
  ctx.publisher.event(topics.inbox(user), { type: 'conversation', event, conv, ...extra })
    .catch((err: unknown) => ctx.log.warn({ err, user, conv }, 'conversation event failed'))
}

/** Add users durably, then to the in-memory view, then tell them. History they see starts now. */
export async function addMembers (ctx: ImContext, conv: string, users: string[], role: Role, name?: string): Promise<string[]> {
  const joinedSeq = await ctx.stores.log.lastSeq(conv)
  const added: string[] = []
  for (const user of users) {
    if (ctx.membership.role(conv, user) !== undefined) continue
    await ctx.stores.conversations.addMember(conv, { user, role, joinedSeq })
    ctx.membership.set(conv, user, role)
    added.push(user)
    notify(ctx, user, 'added', conv, { role, ...(name !== undefined ? { name } : {}) })
  }
  return added
}

/** Remove a user durably and from the in-memory view: from this moment nothing of `conv` reaches them. */
export async function removeMember (ctx: ImContext, conv: string, user: string): Promise<void> {
  await ctx.stores.conversations.removeMember(conv, user)
  ctx.membership.remove(conv, user)
  notify(ctx, user, 'removed', conv)
}
