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

/** One conversation as `conversations` lists it. */
async function listed (ctx: ImContext, caller: Caller, conv: string, role: string): Promise<Listed> {
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
}

interface Listed { conv: string, type: unknown, name?: string, role: string, lastSeq: number, firstSeq: number, read: number, delivered: number }

/**
 * One page of `conv` after `after` (never before the member's history), cut
 * at `budget` bytes of messages but never empty when a message is there.
 */
async function page (ctx: ImContext, conv: string, after: number, joinedSeq: number, limit: number, budget: number) {
  const read = await ctx.stores.log.read(conv, { after: Math.max(after, joinedSeq), limit })
  let bytes = 0
  let count = 0
  for (const message of read.messages) {
    const size = JSON.stringify(message).length
    if (count > 0 && bytes + size > budget) break
    bytes += size
    count++
  }
  return {
    bytes,
    page: {
      conv,
      messages: count === read.messages.length ? read.messages : read.messages.slice(0, count),
      more: read.more || count < read.messages.length,
      lastSeq: read.lastSeq,
      firstSeq: Math.max(read.firstSeq, joinedSeq + 1)
    }
  }
}

export const conversationCommands: CommandTable = {
  async conversations (ctx, caller) {
    const list = await Promise.all([...ctx.membership.conversationsOf(caller.user)].map(async ([conv, role]) => await listed(ctx, caller, conv, role)))
    return { conversations: list }
  },

  async sync (ctx, caller, { conv, after, limit }) {
    const member = await requireMember(ctx, caller, conv)
    // A page also stops at SYNC_PAGE_BYTES (at least one message), so a reply stays a sane MQTT packet.
    return (await page(ctx, conv, after, member.joinedSeq, limit, SYNC_PAGE_BYTES)).page
  },

  /**
   * A device's catch-up in one request: `conversations`, and a page of each
   * conversation whose newest seq is past the device's cursor (`after`,
   * 0 for one it has not seen), while the reply's SYNC_PAGE_BYTES last.
   * Conversations left without a page, or with `more`, are synced one by one.
   */
  async 'sync.all' (ctx, caller, { after, limit }) {
    const conversations = await Promise.all([...ctx.membership.conversationsOf(caller.user)].map(async ([conv, role]) => await listed(ctx, caller, conv, role)))
    const pages = []
    let budget = SYNC_PAGE_BYTES
    for (const c of conversations) {
      const cursor = Math.max(after[c.conv] ?? 0, c.firstSeq - 1)
      if (c.lastSeq <= cursor) continue
      if (budget <= 0) break
      const { bytes, page: p } = await page(ctx, c.conv, cursor, c.firstSeq - 1, limit, budget)
      // the first page may pass the budget by its one message, as sync's does
      if (pages.length > 0 && bytes > budget && p.messages.length <= 1) break
      pages.push(p)
      budget -= bytes
    }
    return { conversations, pages }
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
