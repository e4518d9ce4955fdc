import { ensureDirect } from '../direct.js'
import { directConvId } from '../store/conv-id.js'
import { ImError, notMember } from '../im-error.js'
import type { Caller, ImContext } from '../im-context.js'
import type { CommandTable } from './command.js'

/** The member record of the caller in `conv`, or NOT_MEMBER. */
export async function requireMember (ctx: ImContext, caller: Caller, conv: string): Promise<{ role: string, joinedSeq: number }> {
  if (ctx.membership.role(conv, caller.user) === undefined) throw notMember(conv)
  const member = await ctx.stores.conversations.member(conv, caller.user)
  if (member === undefined) throw notMember(conv)
  return member
}

/** Roughly the most bytes of messages one sync reply carries (under the default 256 KiB packet limit). */
const SYNC_PAGE_BYTES = 192 * 1024

export const conversationCommands: CommandTable = {
  async conversations (ctx, caller) {
    const list = await Promise.all([...ctx.membership.conversationsOf(caller.user)].map(async ([conv, role]) => {
      const [meta, lastSeq, receipts, member] = await Promise.all([
        ctx.stores.conversations.get(conv),
        ctx.stores.log.lastSeq(conv),
        ctx.stores.receipts.get(conv, caller.user),
        ctx.stores.conversations.member(conv, caller.user)
      ])
      return {
        conv,
        type: meta?.type,
        ...(meta?.name !== undefined ? { name: meta.name } : {}),
        role,
        lastSeq,
        // History visible to this member starts after the seq they joined at.
        firstSeq: (member?.joinedSeq ?? 0) + 1,
        read: receipts.read,
        delivered: receipts.delivered
      }
    }))
    return { conversations: list }
  },

  async sync (ctx, caller, { conv, after, limit }) {
    const member = await requireMember(ctx, caller, conv)
    const page = await ctx.stores.log.read(conv, { after: Math.max(after, member.joinedSeq), limit })
    // A page also stops at SYNC_PAGE_BYTES (at least one message), so a reply stays a sane MQTT packet.
    let bytes = 0
    let count = 0
    for (const message of page.messages) {
      bytes += JSON.stringify(message).length
      if (count > 0 && bytes > SYNC_PAGE_BYTES) break
      count++
    }
    return {
      conv,
      messages: count === page.messages.length ? page.messages : page.messages.slice(0, count),
      more: page.more || count < page.messages.length,
      lastSeq: page.lastSeq,
      firstSeq: Math.max(page.firstSeq, member.joinedSeq + 1)
    }
  },

  async read (ctx, caller, { conv, seq }) {
    await requireMember(ctx, caller, conv)
    const lastSeq = await ctx.stores.log.lastSeq(conv)
    if (seq > lastSeq) throw new ImError('HAIL_ERR_BAD_REQUEST', `seq ${seq} is beyond the last message (${lastSeq}) of ${conv}`)
    return { conv, read: await ctx.receipts.read(conv, caller.user, seq) }
  },

  async 'direct.open' (ctx, caller, { user }) {
    const conv = directConvId(caller.user, user)
    await ensureDirect(ctx, caller.user, conv)
    return { conv }
  },

  async 'conv.members' (ctx, caller, { conv }) {
    await requireMember(ctx, caller, conv)
    const entries = [...ctx.membership.members(conv)]
    // Each member's receipts, so a device that opens the conversation shows ticks
    // for what was read before it connected; not for channels (no receipts there),
    // nor for groups too big for receipts to be fanned out.
    if (conv.startsWith('c:') || entries.length > ctx.limits.receiptFanoutLimit) {
      return { conv, members: entries.map(([user, role]) => ({ user, role })) }
    }
    const members = await Promise.all(entries.map(async ([user, role]) => {
      const { read, delivered } = await ctx.stores.receipts.get(conv, user)
      return { user, role, read, delivered }
    }))
    return { conv, members }
  }
}
