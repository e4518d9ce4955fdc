import type { Envelope } from '../protocol/index.js'
import type { CommandResults } from './commands.js'
import { ConversationFeed } from './conversation-feed.js'
import type { CursorStore } from './cursor-store.js'
import { toClientError, type HailClientError } from './errors.js'
import type { Logger } from './logger.js'
import { SerialTask } from './serial-task.js'
import { convTypeOf, topics } from '../protocol/index.js'
import type { Transport } from './transport.js'

/** Conversations synced at once during a catch-up. */
const SYNC_CONCURRENCY = 4

export interface SyncEngineOptions {
  store: CursorStore
  transport: Pick<Transport, 'subscribe' | 'unsubscribe'>
  conversations: () => Promise<CommandResults['conversations']['conversations']>
  fetch: (conv: string, after: number) => Promise<CommandResults['sync']>
  /** One request for the catch-up (`sync.all`); without it, or on a server that does not know it, `conversations` and a `sync` each. */
  syncAll?: (after: Record<string, number>) => Promise<CommandResults['sync.all']>
  /** Shows a message (emits `message`); the cursor is saved right after. */
  deliver: (message: Envelope) => void
  /** A catch-up pass finished with every conversation synced. */
  synced: () => void
  report: (err: HailClientError) => void
  logger: Logger
}

/**
 * Everything the device has shown and how it catches up: one
 * ConversationFeed per conversation, the cursors behind them, the channel
 * feeds it subscribes to, and the catch-up pass after each (re)connection
 * (docs/protocol.md, "Order, gaps and sync").
 */
export class SyncEngine {
  readonly #o: SyncEngineOptions
  readonly #feeds = new Map<string, ConversationFeed>()
  readonly #channels = new Set<string>()
  readonly #catchUp = new SerialTask(async () => await this.#catchUpPass())
  #cursors: Record<string, number> = {}
  /** The server answered HAIL_ERR_UNKNOWN_METHOD to `sync.all` (an older server). */
  #noSyncAll = false

  constructor (options: SyncEngineOptions) {
    this.#o = options
  }

  async load (): Promise<void> {
    try {
      this.#cursors = { ...await this.#o.store.load() }
    } catch (err) {
      throw toClientError(err, 'HAIL_ERR_STORE', 'cannot load the cursors')
    }
  }

  /** The last seq shown in `conv` (0 when none). */
  cursor (conv: string): number {
    return this.#feeds.get(conv)?.last ?? this.#cursors[conv] ?? 0
  }

  /** A live message: in order, once; a gap starts a sync of its conversation. */
  push (message: Envelope): void {
    this.#feed(message.conv).push(message)
  }

  /** The server vouched that `seq` exists in `conv` (see ConversationFeed.expect). */
  expect (conv: string, seq: number): void {
    this.#feed(conv).expect(seq)
  }

  /** Stops the feeds' timers. */
  close (): void {
    for (const feed of this.#feeds.values()) feed.close()
  }

  async sync (conv: string): Promise<void> {
    await this.#feed(conv).sync()
  }

  /** `conversations`, then a sync of each one whose lastSeq on the server is beyond the cursor. */
  async catchUp (): Promise<void> {
    await this.#catchUp.run()
  }

  /** The channel feeds to subscribe again on a connection without a session. */
  get feedTopics (): string[] {
    return [...this.#channels].map(topics.feed)
  }

  async subscribeFeeds (convs: string[]): Promise<void> {
    const fresh = convs.filter((c) => convTypeOf(c) === 'channel' && !this.#channels.has(c))
    if (fresh.length === 0) return
    for (const conv of fresh) this.#channels.add(conv)
    const granted = await this.#o.transport.subscribe(fresh.map(topics.feed))
    fresh.forEach((conv, i) => {
      if (granted[i] !== true) {
        this.#channels.delete(conv)
        this.#o.logger('warn', 'channel feed refused', { conv })
      }
    })
  }

  async unsubscribeFeed (conv: string): Promise<void> {
    if (!this.#channels.delete(conv)) return
    await this.#o.transport.unsubscribe([topics.feed(conv)])
  }

  /** Added: subscribe a channel's feed and sync what is visible. Removed: drop the feed. */
  onConversation (event: 'added' | 'removed' | 'updated', conv: string): void {
    if (event === 'added') {
      this.subscribeFeeds([conv]).then(async () => await this.sync(conv))
        .catch((err: unknown) => this.#o.report(toClientError(err, 'HAIL_ERR_SYNC', `sync of ${conv}`)))
    } else if (event === 'removed') {
      this.unsubscribeFeed(conv).catch((err: unknown) => this.#o.logger('debug', 'unsubscribe failed', { conv, err }))
    }
  }

  /** The conversations and, with `sync.all`, the first page of each one behind (one request). */
  async #list (): Promise<{ list: CommandResults['conversations']['conversations'], pages: Map<string, CommandResults['sync']> }> {
    const pages = new Map<string, CommandResults['sync']>()
    if (this.#o.syncAll !== undefined && !this.#noSyncAll) {
      const after: Record<string, number> = {}
      for (const conv of new Set([...Object.keys(this.#cursors), ...this.#feeds.keys()])) {
        const cursor = this.cursor(conv)
        if (cursor > 0) after[conv] = cursor
      }
      try {
        const reply = await this.#o.syncAll(after)
        for (const page of reply.pages) pages.set(page.conv, page)
        return { list: reply.conversations, pages }
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'HAIL_ERR_UNKNOWN_METHOD') throw err
        this.#noSyncAll = true
        this.#o.logger('info', 'the server has no sync.all: catching up with a sync per conversation')
      }
    }
    return { list: await this.#o.conversations(), pages }
  }

  async #catchUpPass (): Promise<void> {
    const { list, pages } = await this.#list()
    await this.subscribeFeeds(list.map((c) => c.conv))
    const behind = list.filter((c) => c.lastSeq > this.cursor(c.conv))
    this.#o.logger('debug', 'catching up', { conversations: list.length, behind: behind.length, prefetched: pages.size })
    const failures: unknown[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      for (let c = behind[next++]; c !== undefined; c = behind[next++]) {
        await this.#feed(c.conv).sync(pages.get(c.conv)).catch((err: unknown) => failures.push(err))
      }
    }
    await Promise.all(Array.from({ length: Math.min(SYNC_CONCURRENCY, behind.length) }, worker))
    if (failures.length > 0) {
      for (const err of failures.slice(1)) this.#o.report(toClientError(err, 'HAIL_ERR_SYNC', 'catch-up sync'))
      throw failures[0]
    }
    this.#o.synced()
  }

  #feed (conv: string): ConversationFeed {
    let feed = this.#feeds.get(conv)
    if (feed !== undefined) return feed
    feed = new ConversationFeed({
      conv,
      last: this.#cursors[conv] ?? 0,
      deliver: (message) => {
        this.#o.deliver(message)
        this.#save(conv, message.seq)
      },
      fetch: async (after) => await this.#o.fetch(conv, after),
      onSyncError: (err) => this.#o.report(toClientError(err, 'HAIL_ERR_SYNC', `sync of ${conv}`)),
      logger: this.#o.logger
    })
    this.#feeds.set(conv, feed)
    return feed
  }

  #save (conv: string, seq: number): void {
    const failed = (err: unknown): void => this.#o.report(toClientError(err, 'HAIL_ERR_STORE', `cannot save the cursor of ${conv}`))
    try {
      const saving = this.#o.store.save(conv, seq)
      if (saving instanceof Promise) saving.catch(failed)
    } catch (err) {
      failed(err)
    }
  }
}
