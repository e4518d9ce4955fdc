import { HailClient, type CommandArgs, type CommandResult, type ConversationInfo, type Envelope, type Method, type RequestOptions } from 'hail/client'

/** Messages shown when a conversation is first opened on this device, and per older page. */
export const PAGE = 50

/**
 * The SDK's client, with one change of policy for a browser tab: a new
 * device starts each conversation at its newest page, not at seq 1.
 *
 * The SDK syncs a device from its cursor, and a tab's cursors start at 0
 * (every page load is a new device), so its first catch-up would read every
 * conversation's whole history. Here the catch-up's `sync.all` starts each
 * conversation at its floor, and the first `sync` of a conversation
 * reads only after a floor (the last PAGE messages), reporting the floor as
 * the page's `firstSeq` — what the protocol says of history a member cannot
 * read — so the SDK skips what lies below it. The floor comes from the
 * `conversations` list (lastSeq), or, for a conversation that appears later
 * (followed, added), from a one-message read of it. Older pages are fetched on
 * demand with older(), as the user scrolls up; they are history, not news,
 * and do not pass through the SDK's `message` event. The SDK's guarantees
 * (each message once, in order, gaps and reconnects synced) hold from the
 * floor on.
 */
export class AppClient extends HailClient {
  /** conv → the seq the first sync starts after. */
  readonly #floors = new Map<string, number>()
  /** Told of every `conversations` answer, the SDK's own catch-up included. */
  onConversations: ((list: ConversationInfo[]) => void) | undefined

  /** The oldest seq the SDK delivers in `conv` (1 unless a floor was set). */
  windowStart (conv: string): number {
    return (this.#floors.get(conv) ?? 0) + 1
  }

  override async request<M extends Method> (method: M, args: CommandArgs<M>, options?: RequestOptions): Promise<CommandResult<M>> {
    if (method === 'sync') {
      const a = args as CommandArgs<'sync'>
      if (!this.#floors.has(a.conv) && a.after === 0 && this.cursor(a.conv) === 0) {
        // A conversation the list did not have (just followed, or added): one small read says where its end is.
        const probe = await super.request('sync', { conv: a.conv, after: 0, limit: 1 }, options)
        if (!this.#floors.has(a.conv)) this.#floors.set(a.conv, Math.max(0, probe.firstSeq - 1, probe.lastSeq - PAGE))
      }
      const floor = this.#floors.get(a.conv) ?? 0
      if (a.after < floor) {
        const page = await super.request('sync', { ...a, after: floor }, options)
        return { ...page, firstSeq: Math.max(page.firstSeq, floor + 1) } as CommandResult<M>
      }
    }
    if (method === 'sync.all') {
      // The catch-up's one request, with the same floors: the list first (it sets them), then
      // every conversation from its floor at least, each page's firstSeq raised to it as above.
      await this.request('conversations', {}, options)
      const a = args as CommandArgs<'sync.all'>
      const after: Record<string, number> = { ...a.after }
      for (const [conv, floor] of this.#floors) after[conv] = Math.max(after[conv] ?? 0, floor)
      const reply = await super.request('sync.all', { ...a, after }, options)
      const pages = reply.pages.map((page) => ({ ...page, firstSeq: Math.max(page.firstSeq, (this.#floors.get(page.conv) ?? 0) + 1) }))
      return { ...reply, pages } as CommandResult<M>
    }
    const result = await super.request(method, args, options)
    if (method === 'conversations') {
      const list = (result as CommandResult<'conversations'>).conversations
      for (const c of list) {
        if (this.#floors.has(c.conv) || this.cursor(c.conv) > 0) continue
        this.#floors.set(c.conv, Math.max(0, c.firstSeq - 1, c.lastSeq - PAGE))
      }
      this.onConversations?.(list)
    }
    return result
  }

  /** The messages before `before` (at most PAGE, oldest first), down to the first one this user may read. */
  async older (conv: string, before: number): Promise<{ messages: Envelope[], firstSeq: number }> {
    const from = Math.max(0, before - 1 - PAGE)
    const page = await super.request('sync', { conv, after: from, limit: PAGE })
    return { messages: page.messages.filter((m) => m.seq < before), firstSeq: page.firstSeq }
  }
}
