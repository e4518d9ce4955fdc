import { ImError, notFound } from './im-error.js'
import type { ImContext } from './im-context.js'

import { directConvId } from './store/conv-id.js'

const inFlight = new WeakMap<ImContext, Map<string, Promise<void>>>()

/**
 * Make sure the direct conversation `conv` exists, with `user` in it; it is
 * created on first use (by direct.open or a first message), once even when
 * both sides start it at the same moment.
 */
export async function ensureDirect (ctx: ImContext, user: string, conv: string): Promise<void> {
  if (ctx.membership.role(conv, user) !== undefined) return
  const [, a, b] = conv.split(':')
  if (a === undefined || b === undefined || (user !== a && user !== b)) {
    throw new ImError('HAIL_ERR_NOT_MEMBER', `you are not a member of ${conv}`)
  }
  if (a === b) throw new ImError('HAIL_ERR_BAD_REQUEST', 'a direct conversation needs two different users')
  if (conv !== directConvId(a, b)) throw new ImError('HAIL_ERR_BAD_REQUEST', `a direct conversation id lists its users sorted: ${directConvId(a, b)}`)
  let pending = inFlight.get(ctx)
  if (pending === undefined) inFlight.set(ctx, pending = new Map())
  let creating = pending.get(conv)
  if (creating === undefined) {
    creating = create(ctx, conv, user, user === a ? b : a).finally(() => pending.delete(conv))
    pending.set(conv, creating)
  }
  await creating
}

async function create (ctx: ImContext, conv: string, user: string, other: string): Promise<void> {
  if (ctx.membership.role(conv, user) !== undefined) return
  if (!(await ctx.stores.users.exists(other))) throw notFound(`no user ${other}`)
  const now = Date.now()
  const members = [user, other].map((u) => ({ user: u, role: 'member' as const, joinedSeq: 0 }))
  await ctx.stores.conversations.create(conv, { createdBy: user, createdAt: now }, members)
  for (const m of members) ctx.membership.set(conv, m.user, m.role)
}
