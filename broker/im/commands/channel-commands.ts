import { forbidden, ImError, notFound } from '../im-error.js'
import type { CommandTable } from './command.js'
import { appendSystem, notify, removeMember } from './membership-changes.js'
import { newChannelId } from '../store/conv-id.js'

export const channelCommands: CommandTable = {
  async 'channel.create' (ctx, caller, { name, public: isPublic }) {
    const conv = newChannelId()
    await ctx.stores.conversations.create(conv,
      { name, public: isPublic, createdBy: caller.user, createdAt: Date.now() },
      [{ user: caller.user, role: 'owner', joinedSeq: 0 }]
    )
    ctx.membership.set(conv, caller.user, 'owner')
    await appendSystem(ctx, conv, 'conv.created', { by: caller.user, name })
    notify(ctx, caller.user, 'added', conv, { name, role: 'owner' })
    return { conv }
  },

  // A channel's audience is not told of each follower: follow and unfollow log no system event.
  async 'channel.follow' (ctx, caller, { conv }) {
    if (!conv.startsWith('c:')) throw new ImError('HAIL_ERR_BAD_REQUEST', `${conv} is not a channel`)
    const meta = await ctx.stores.conversations.get(conv)
    if (meta === undefined) throw notFound(`no channel ${conv}`)
    if (ctx.membership.role(conv, caller.user) !== undefined) return { conv }
    if (meta.public !== true) throw forbidden(`${conv} is private: an admin adds its followers`)
    // Followers read the whole public history: they join at seq 0.
    await ctx.stores.conversations.addMember(conv, { user: caller.user, role: 'follower', joinedSeq: 0 })
    ctx.membership.set(conv, caller.user, 'follower')
    notify(ctx, caller.user, 'added', conv, { name: meta.name ?? '', role: 'follower' })
    return { conv }
  },

  async 'channel.unfollow' (ctx, caller, { conv }) {
    const role = ctx.membership.role(conv, caller.user)
    if (role === undefined) return { conv }
    if (role !== 'follower') throw forbidden('owners and admins leave a channel with conv.leave')
    await removeMember(ctx, conv, caller.user)
    return { conv }
  }
}
