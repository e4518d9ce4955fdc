import { signal } from '@preact/signals'
import type { ConversationInfo, Envelope, HailClientError, Presence } from 'hail/client'
import { AppClient } from './app-client.js'
import {
  emptyConv, partnerOf, typeOf, withMessage, withOlder, type ConvState, type ShownMessage
} from './conversation-state.js'
import { tooBig, uploadFile } from './file-upload.js'

export type Connection = 'connecting' | 'online' | 'offline' | 'catching-up'

/** How long a typing indicator lasts without being renewed. */
const TYPING_MS = 6000
/** How long a conversation this tab just made or joined is kept though a list does not have it yet. */
const JOIN_GRACE_MS = 15_000
/** How often this device renews its own typing indicator while the user types. */
const TYPING_RENEW_MS = 3000

export interface ChatStoreOptions {
  user: string
  device: string
  /** A device whose name outlives the page: the broker keeps its session (clean: false). */
  persistent: boolean
  token: () => string
  maxFileBytes: number
  /** The login was refused (an expired or revoked token). */
  onRefused: () => void
}

let cidCounter = 0
const newCid = (): string => `w${Date.now().toString(36)}${(cidCounter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`

/**
 * Everything the chat shows, fed by one AppClient (the SDK): the
 * conversations and their messages, receipts, typing and presence, and the
 * connection's state for the reconnect banner. Views read the signals;
 * actions are methods. Changes made in one turn reach the views together.
 */
export class ChatStore {
  readonly client: AppClient
  readonly me: string
  readonly connection = signal<Connection>('connecting')
  readonly convs = signal<ReadonlyMap<string, ConvState>>(new Map())
  readonly presence = signal<Readonly<Record<string, Presence>>>({})
  readonly selected = signal<string | null>(null)
  /** A short message for the user (a refused action); cleared by the view. */
  readonly notice = signal<string | null>(null)
  readonly #o: ChatStoreOptions
  #work = new Map<string, ConvState>()
  #flushing = false
  readonly #watched = new Set<string>()
  readonly #joinedAt = new Map<string, number>()
  #typingSent = new Map<string, number>()
  #timer: ReturnType<typeof setInterval> | undefined

  constructor (options: ChatStoreOptions) {
    this.#o = options
    this.me = options.user
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`
    this.client = new AppClient({ url, user: options.user, device: options.device, token: options.token(), clean: !options.persistent, reconnectPeriod: 2000 })
    const c = this.client
    c.onConversations = (list) => this.#onConversations(list)
    c.on('message', (m) => this.#onMessage(m))
    c.on('receipt', (r) => this.#update(r.conv, (s) => r.user === this.me
      ? { ...s, read: Math.max(s.read, r.read) }
      : { ...s, receipts: { ...s.receipts, [r.user]: { delivered: Math.max(r.delivered, s.receipts[r.user]?.delivered ?? 0), read: Math.max(r.read, s.receipts[r.user]?.read ?? 0) } } }))
    c.on('typing', (t) => {
      if (t.from === this.me) return
      this.#update(t.conv, (s) => {
        const typing = { ...s.typing }
        if (t.typing) typing[t.from] = Date.now() + TYPING_MS
        else delete typing[t.from]
        return { ...s, typing }
      })
    })
    c.on('presence', (p) => { this.presence.value = { ...this.presence.value, [p.user]: p } })
    c.on('conversation', (e) => {
      if (e.event === 'removed') {
        this.#work.delete(e.conv)
        this.#schedule()
        if (this.selected.value === e.conv) this.selected.value = null
        return
      }
      if (e.event === 'updated') this.#update(e.conv, (s) => ({ ...s, ...(e.name !== undefined ? { name: e.name } : {}), ...(e.role !== undefined ? { role: e.role } : {}) }))
      // Added (or a change of name or role): the list again, which also sets the new one's window.
      this.client.conversations().catch(() => {})
      if (e.event === 'updated' && this.#work.get(e.conv)?.members !== undefined) this.loadMembers(e.conv)
    })
    c.on('disconnect', () => { this.connection.value = 'offline' })
    c.on('connect', () => { this.connection.value = 'catching-up' })
    c.on('synced', () => { this.connection.value = 'online' })
    c.on('error', (err: HailClientError) => {
      if (err.code === 'HAIL_ERR_NOT_AUTHORIZED') this.#o.onRefused()
      else if (err.code === 'HAIL_ERR_SYNC') this.notice.value = 'Some messages could not be loaded; they will be on the next reconnect.'
    })
  }

  async start (): Promise<void> {
    await this.client.connect()
    this.connection.value = 'catching-up'
    // Typing indicators lapse on their own when their author goes quiet.
    this.#timer = setInterval(() => this.#expireTyping(), 1000)
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.client.close()
  }

  /**
   * Signing out: besides closing, the broker forgets this device's session
   * (a clean connection ends it, MQTT 3.1.1 §3.1.2.4), so nothing queues for
   * a device nobody will use again.
   */
  async signOut (): Promise<void> {
    await this.stop()
    if (!this.#o.persistent) return
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`
    const last = new AppClient({ url, user: this.me, device: this.client.device, token: this.#o.token(), clean: true, reconnectPeriod: 0 })
    last.on('error', () => {})
    await last.connect().then(async () => await last.close(), () => {})
  }

  conv (id: string): ConvState | undefined {
    return this.convs.value.get(id)
  }

  // ---- reading ------------------------------------------------------------

  /** The page shows `conv` scrolled to its end: everything in it is read. */
  markRead (conv: string): void {
    const s = this.#work.get(conv)
    if (s === undefined || s.lastSeq <= s.read || !this.client.connected) return
    const seq = s.lastSeq
    this.#update(conv, (x) => ({ ...x, read: Math.max(x.read, seq) }))
    this.client.markRead(conv, seq).catch(() => this.#update(conv, (x) => ({ ...x, read: Math.min(x.read, s.read) })))
  }

  async loadOlder (conv: string): Promise<void> {
    const s = this.#work.get(conv)
    if (s === undefined || s.loadingOlder || s.loadedFrom <= s.firstSeq) return
    this.#update(conv, (x) => ({ ...x, loadingOlder: true }))
    try {
      const { messages, firstSeq } = await this.client.older(conv, s.loadedFrom)
      const from = Math.max(firstSeq, messages[0]?.seq ?? firstSeq)
      this.#update(conv, (x) => withOlder({ ...x, firstSeq: Math.max(x.firstSeq, firstSeq) }, messages, Math.min(x.loadedFrom, from)))
    } catch (err) {
      this.#update(conv, (x) => ({ ...x, loadingOlder: false }))
      this.#tell(err)
    }
  }

  /** Members and their roles, and where each one's receipts stand (the server adds them for direct chats and groups). */
  loadMembers (conv: string): void {
    this.client.members(conv).then((list) => {
      const members = list as Array<typeof list[number] & { read?: number, delivered?: number }>
      this.#update(conv, (s) => {
        const receipts = { ...s.receipts }
        for (const m of members) {
          if (m.user === this.me || m.read === undefined) continue
          const known = receipts[m.user] ?? { read: 0, delivered: 0 }
          receipts[m.user] = { read: Math.max(known.read, m.read), delivered: Math.max(known.delivered, m.delivered ?? 0) }
        }
        return { ...s, members: members.map(({ user, role }) => ({ user, role })), receipts }
      })
      this.#watch(members.map((m) => m.user))
    }, (err: unknown) => this.#tell(err))
  }

  // ---- writing ------------------------------------------------------------

  sendText (conv: string, text: string): void {
    this.typing(conv, false)
    const cid = newCid()
    const item: ShownMessage = { seq: 0, cid, from: this.me, ts: Date.now(), kind: 'text', body: { text }, text, edited: false, deleted: false, reactions: {} }
    const attempt = (): void => {
      this.#setPending(conv, { ...item, pending: { state: 'sending' } })
      // The same cid on a retry: the server stores the message once.
      this.client.send(conv, { kind: 'text', body: { text } }, { cid }).catch((err: HailClientError) => {
        this.#setPending(conv, { ...item, pending: { state: 'failed', error: describe(err), retry: attempt } })
      })
    }
    attempt()
  }

  async sendFile (conv: string, file: File): Promise<void> {
    const cid = newCid()
    const body = { fileId: '', name: file.name, size: file.size, type: file.type }
    const item: ShownMessage = { seq: 0, cid, from: this.me, ts: Date.now(), kind: 'file', body, edited: false, deleted: false, reactions: {} }
    const refused = tooBig(file, this.#o.maxFileBytes)
    if (refused !== undefined) {
      this.#setPending(conv, { ...item, pending: { state: 'failed', error: refused } })
      return
    }
    const attempt = async (): Promise<void> => {
      this.#setPending(conv, { ...item, pending: { state: 'sending', progress: 0 } })
      try {
        const stored = await uploadFile(file, this.#o.token(), (progress) => this.#setPending(conv, { ...item, pending: { state: 'sending', progress } }))
        const sent = { fileId: stored.fileId, name: stored.name, size: stored.size, type: stored.type }
        this.#setPending(conv, { ...item, body: sent, pending: { state: 'sending', progress: 1 } })
        await this.client.send(conv, { kind: 'file', body: sent }, { cid })
      } catch (err) {
        this.#setPending(conv, { ...item, pending: { state: 'failed', error: describe(err), retry: () => { void attempt() } } })
      }
    }
    await attempt()
  }

  dismissPending (conv: string, cid: string): void {
    this.#update(conv, (s) => ({ ...s, pending: s.pending.filter((p) => p.cid !== cid) }))
  }

  edit (conv: string, seq: number, text: string): void {
    this.#op(conv, { kind: 'edit', body: { ref: seq, text } })
  }

  recall (conv: string, seq: number): void {
    this.#op(conv, { kind: 'delete', body: { ref: seq } })
  }

  react (conv: string, seq: number, emoji: string, remove: boolean): void {
    this.#op(conv, { kind: 'reaction', body: remove ? { ref: seq, emoji, remove: true } : { ref: seq, emoji } })
  }

  /** Tells the others this user types (renewed every few seconds while it lasts), or stopped. */
  typing (conv: string, typing: boolean): void {
    if (!this.client.connected || typeOf(conv) === 'channel') return
    const last = this.#typingSent.get(conv) ?? 0
    if (typing && Date.now() - last < TYPING_RENEW_MS) return
    if (!typing && last === 0) return
    this.#typingSent.set(conv, typing ? Date.now() : 0)
    this.client.typing(conv, typing)
  }

  // ---- conversations ------------------------------------------------------

  async openDirect (user: string): Promise<string> {
    const conv = await this.client.openDirect(user.trim().toLowerCase())
    this.#joined(conv, 'member')
    return conv
  }

  async createGroup (name: string, members: string[]): Promise<string> {
    const conv = await this.client.createGroup(name, members)
    this.#joined(conv, 'owner')
    return conv
  }

  async createChannel (name: string): Promise<string> {
    const conv = await this.client.createChannel(name)
    this.#joined(conv, 'owner')
    return conv
  }

  async follow (conv: string): Promise<void> {
    await this.client.follow(conv)
    this.#joined(conv, 'follower')
  }

  /** Runs a group or channel action; a refusal becomes the notice. */
  async act (what: () => Promise<unknown>): Promise<boolean> {
    try {
      await what()
      return true
    } catch (err) {
      this.#tell(err)
      return false
    }
  }

  // ---- inside -------------------------------------------------------------

  #op (conv: string, message: Parameters<AppClient['send']>[1]): void {
    this.client.send(conv, message).catch((err: unknown) => this.#tell(err))
  }

  #onConversations (list: ConversationInfo[]): void {
    const seen = new Set<string>()
    for (const c of list) {
      seen.add(c.conv)
      const known = this.#work.get(c.conv) ?? emptyConv(c.conv, c.type, c.role)
      const windowStart = this.client.windowStart(c.conv)
      this.#work.set(c.conv, {
        ...known,
        type: c.type,
        name: c.name ?? known.name,
        role: c.role,
        lastSeq: Math.max(known.lastSeq, c.lastSeq),
        firstSeq: c.firstSeq,
        read: Math.max(known.read, c.read),
        loadedFrom: known.messages.length > 0 ? Math.min(known.loadedFrom, known.messages[0]!.seq) : Math.max(c.firstSeq, windowStart)
      })
    }
    // Gone from the list: left or removed (the notice may have been missed). Not one this tab just
    // made or joined, which a list asked for before that may lack.
    const now = Date.now()
    for (const conv of [...this.#work.keys()]) {
      if (!seen.has(conv) && now - (this.#joinedAt.get(conv) ?? 0) > JOIN_GRACE_MS) this.#work.delete(conv)
    }
    this.#schedule()
    this.#watch(list.map((c) => partnerOf(c.conv, this.me)).filter((u): u is string => u !== undefined))
  }

  #onMessage (m: Envelope): void {
    this.#ensure(m.conv)
    this.#update(m.conv, (s) => withMessage(s, m, this.me))
  }

  #ensure (conv: string, role: ConvState['role'] = 'member'): void {
    if (this.#work.has(conv)) return
    this.#work.set(conv, { ...emptyConv(conv, typeOf(conv), role), loadedFrom: this.client.windowStart(conv) })
    this.#schedule()
    const partner = partnerOf(conv, this.me)
    if (partner !== undefined) this.#watch([partner])
  }

  /** A conversation this user just made or joined: the list again, for its name, role and history window. */
  #joined (conv: string, role: ConvState['role']): void {
    this.#joinedAt.set(conv, Date.now())
    this.#ensure(conv, role)
    this.selected.value = conv
    this.client.conversations().catch(() => {})
  }

  #setPending (conv: string, item: ShownMessage): void {
    this.#ensure(conv)
    this.#update(conv, (s) => {
      // Stored meanwhile (the echo came first): nothing is pending any more.
      if (s.messages.some((m) => m.cid === item.cid && m.from === this.me)) return s
      const i = s.pending.findIndex((p) => p.cid === item.cid)
      const pending = [...s.pending]
      if (i < 0) pending.push(item)
      else pending[i] = item
      return { ...s, pending, activity: Math.max(s.activity, item.ts) }
    })
  }

  #watch (users: string[]): void {
    const fresh = [...new Set(users)].filter((u) => u !== this.me && !this.#watched.has(u))
    if (fresh.length === 0 || !this.client.connected) return
    for (const u of fresh) this.#watched.add(u)
    this.client.watchPresence(fresh).catch(() => { for (const u of fresh) this.#watched.delete(u) })
  }

  #expireTyping (): void {
    const now = Date.now()
    for (const [conv, s] of this.#work) {
      const typing = Object.entries(s.typing).filter(([, until]) => until > now)
      if (typing.length !== Object.keys(s.typing).length) this.#update(conv, (x) => ({ ...x, typing: Object.fromEntries(typing) }))
    }
  }

  #update (conv: string, change: (s: ConvState) => ConvState): void {
    const s = this.#work.get(conv)
    if (s === undefined) return
    const next = change(s)
    if (next === s) return
    this.#work.set(conv, next)
    this.#schedule()
  }

  /** One signal update per turn, however many messages a sync page brought. */
  #schedule (): void {
    if (this.#flushing) return
    this.#flushing = true
    queueMicrotask(() => {
      this.#flushing = false
      this.convs.value = new Map(this.#work)
    })
  }

  #tell (err: unknown): void {
    this.notice.value = describe(err)
  }
}

/** An error as one sentence for the page. */
export function describe (err: unknown): string {
  const e = err as { code?: string, message?: string }
  switch (e.code) {
    case 'HAIL_ERR_FORBIDDEN': return 'Not allowed here.'
    case 'HAIL_ERR_NOT_FOUND': return `Not found: ${e.message ?? ''}`.trim()
    case 'HAIL_ERR_GONE': return 'That message was recalled.'
    case 'HAIL_ERR_NOT_MEMBER': return 'You are not a member of this conversation.'
    case 'HAIL_ERR_TIMEOUT': return 'No answer from the server; try again.'
    case 'HAIL_ERR_CLOSED': return 'Not connected.'
    case 'HAIL_ERR_RATE_LIMITED': return 'Too fast; wait a moment and try again.'
    default: return e.message ?? String(err)
  }
}
