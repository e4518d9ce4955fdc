import { forbidden, ImError, notFound } from '../im-error.js'
import type { Caller, ImContext } from '../im-context.js'
import type { CommandTable } from './command.js'
import { requireMember } from './conversation-commands.js'
import { addMembers, appendSystem, notify, removeMember } from './membership-changes.js'
import { newGroupId } from '../store/conv-id.js'

async function requireAdmin (ctx: ImContext, caller: Caller, conv: string): Promise<string> {
  const { role } = await requireMember(ctx, caller, conv)
  if (role !== 'owner' && role !== 'admin') throw forbidden(`only owners and admins manage ${conv}`)
  if (conv.startsWith('d:')) throw new ImError('HAIL_ERR_BAD_REQUEST', 'a direct conversation has no members to manage')
  return role
}

async function requireUsers (ctx: ImContext, users: string[]): Promise<void> {
  for (const user of users) {
    if (!(await ctx.stores.users.exists(user))) throw notFound(`no user ${user}`)
  }
}

export const groupCommands: CommandTable = {
  async 'group.create' (ctx, caller, { name, members }) {
    const others = [...new Set(members)].filter((u) => u !== caller.user)
    await requireUsers(ctx, others)
    const conv = newGroupId()
    await ctx.stores.conversations.create(conv,
      { name, createdBy: caller.user, createdAt: Date.now() },
      [{ user: caller.user, role: 'owner', joinedSeq: 0 }, ...others.map((user) => ({ user, role: 'member' as const, joinedSeq: 0 }))]
    )
    ctx.membership.set(conv, caller.user, 'owner')
    for (const user of others) ctx.membership.set(conv, user, 'member')
    await appendSystem(ctx, conv, 'conv.created', { by: caller.user, name, members: [caller.user, ...others] })
    notify(ctx, caller.user, 'added', conv, { name, role: 'owner' })
    for (const user of others) notify(ctx, user, 'added', conv, { name, role: 'member' })
    return { conv }
  },

  async 'conv.add' (ctx, caller, { conv, users }) {
    await requireAdmin(ctx, caller, conv)
    await requireUsers(ctx, users)
    const meta = await ctx.stores.conversations.get(conv)
    const added = await addMembers(ctx, conv, users, conv.startsWith('c:') ? 'follower' : 'member', meta?.name)
    if (added.length > 0) await appendSystem(ctx, conv, 'member.joined', { users: added, by: caller.user })
    return { conv, added }
  },

  async 'conv.remove' (ctx, caller, { conv, users }) {
    await requireAdmin(ctx, caller, conv)
    const removed: string[] = []
    for (const user of new Set(users)) {
      const role = ctx.membership.role(conv, user)
      if (role === undefined) continue
      if (role === 'owner') throw forbidden('the owner cannot be removed')
      await removeMember(ctx, conv, user)
      removed.push(user)
    }
    if (removed.length > 0) await appendSystem(ctx, conv, 'member.removed', { users: removed, by: caller.user })
    return { conv, removed }
  },

  async 'conv.leave' (ctx, caller, { conv }) {
    const { role } = await requireMember(ctx, caller, conv)
    if (conv.startsWith('d:')) throw new ImError('HAIL_ERR_BAD_REQUEST', 'one does not leave a direct conversation')
    if (role === 'owner') {
      // The conversation keeps an owner: the first admin, else the first member.
      const others = [...ctx.membership.members(conv)].filter(([u]) => u !== caller.user)
      const heir = others.find(([, r]) => r === 'admin') ?? others.find(([, r]) => r === 'member')
      if (heir !== undefined) {
        await ctx.stores.conversations.setRole(conv, heir[0], 'owner')
        ctx.membership.set(conv, heir[0], 'owner')
      }
    }
    await removeMember(ctx, conv, caller.user)
    await appendSystem(ctx, conv, 'member.left', { user: caller.user })
    return { conv }
  },

  async 'conv.rename' (ctx, caller, { conv, name }) {
    await requireAdmin(ctx, caller, conv)
    await ctx.stores.conversations.rename(conv, name)
    await appendSystem(ctx, conv, 'conv.renamed', { name, by: caller.user })
    for (const [user] of ctx.membership.members(conv)) notify(ctx, user, 'updated', conv, { name })
    return { conv, name }
  },

  async 'conv.role' (ctx, caller, { conv, user, role }) {
    const { role: own } = await requireMember(ctx, caller, conv)
    if (own !== 'owner') throw forbidden('only the owner changes roles')
    if (!conv.startsWith('g:') && !conv.startsWith('c:')) throw new ImError('HAIL_ERR_BAD_REQUEST', 'roles exist in groups and channels')
    const current = ctx.membership.role(conv, user)
    if (current === undefined) throw notFound(`${user} is not a member of ${conv}`)
    if (current === 'owner') throw forbidden('the owner keeps the owner role')
    await ctx.stores.conversations.setRole(conv, user, role)
    ctx.membership.set(conv, user, role)
    notify(ctx, user, 'updated', conv, { role })
    return { conv, user, role }
  }
}
