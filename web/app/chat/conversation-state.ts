import type { ConvType, Envelope, Role } from 'hail/client'

/** A message as the page shows it: the stored one with its edits, recall and reactions applied. */
export interface ShownMessage {
  /** 0 while a message of this device is on its way (pending). */
  seq: number
  /** The client id: how a pending message is matched with its stored copy. */
  cid: string
  from: string
  ts: number
  kind: string
  body: unknown
  /** Current text of a text message (after edits). */
  text?: string
  edited: boolean
  deleted: boolean
  /** emoji → users who reacted */
  reactions: Record<string, string[]>
  /** Only on this device's own messages not stored yet. */
  pending?: { state: 'sending' | 'failed', error?: string, progress?: number, retry?: () => void }
}

export interface Receipts { delivered: number, read: number }

export interface ConvState {
  conv: string
  type: ConvType
  name: string | undefined
  role: Role
  /** The newest seq the server reported, or seen. */
  lastSeq: number
  /** The oldest seq this user may read. */
  firstSeq: number
  /** The oldest seq loaded on this page. */
  loadedFrom: number
  loadingOlder: boolean
  /** This user's read receipt. */
  read: number
  /** Stored messages that are shown (text, files, calls, system events), by seq. */
  messages: ShownMessage[]
  /** This device's messages on their way, in the order they were sent. */
  pending: ShownMessage[]
  /** Other members' receipts. */
  receipts: Record<string, Receipts>
  members: Array<{ user: string, role: Role }> | undefined
  /** user → until when they type (ms) */
  typing: Record<string, number>
  /** The time of the newest shown message, for the order of the list. */
  activity: number
  /** Edits, recalls and reactions whose message is not loaded (yet): applied when it is. */
  orphanOps: Envelope[]
}

/** Kinds that change an earlier message rather than being one. */
const OP_KINDS = new Set(['edit', 'delete', 'reaction'])

export function isOp (kind: string): boolean {
  return OP_KINDS.has(kind)
}

export function emptyConv (conv: string, type: ConvType, role: Role): ConvState {
  return {
    conv,
    type,
    name: undefined,
    role,
    lastSeq: 0,
    firstSeq: 1,
    loadedFrom: 1,
    loadingOlder: false,
    read: 0,
    messages: [],
    pending: [],
    receipts: {},
    members: undefined,
    typing: {},
    activity: 0,
    orphanOps: []
  }
}

export function typeOf (conv: string): ConvType {
  return conv.startsWith('d:') ? 'direct' : conv.startsWith('c:') ? 'channel' : 'group'
}

/** The other user of a direct conversation `d:{a}:{b}`. */
export function partnerOf (conv: string, me: string): string | undefined {
  if (!conv.startsWith('d:')) return undefined
  const [, a, b] = conv.split(':')
  return a === me ? b : a
}

export function shown (m: Envelope): ShownMessage {
  const body = m.body as { text?: unknown } | null
  return {
    seq: m.seq,
    cid: m.cid,
    from: m.from,
    ts: m.ts,
    kind: m.kind,
    // a recalled message's tombstone (docs/protocol.md, "Recall") has no body
    body: m.body ?? {},
    ...(m.kind === 'text' && typeof body?.text === 'string' ? { text: body.text } : {}),
    edited: false,
    deleted: m.deleted !== undefined,
    reactions: {}
  }
}

/** Applies an edit, recall or reaction to the message it names; false when that message is not here. */
function applyOp (messages: ShownMessage[], op: Envelope): boolean {
  const body = op.body as { ref?: number, text?: string, emoji?: string, remove?: boolean }
  const i = indexOfSeq(messages, body.ref ?? -1)
  if (i < 0) return false
  const target = messages[i]!
  let next = target
  if (op.kind === 'edit' && op.from === target.from && typeof body.text === 'string') {
    next = { ...target, text: body.text, edited: true }
  } else if (op.kind === 'delete') {
    next = { ...target, deleted: true, text: undefined, reactions: {} }
  } else if (op.kind === 'reaction' && typeof body.emoji === 'string') {
    const users = (target.reactions[body.emoji] ?? []).filter((u) => u !== op.from)
    if (body.remove !== true) users.push(op.from)
    const reactions = { ...target.reactions, [body.emoji]: users }
    if (users.length === 0) delete reactions[body.emoji]
    next = { ...target, reactions }
  }
  messages[i] = next
  return true
}

export function indexOfSeq (messages: ShownMessage[], seq: number): number {
  let lo = 0
  let hi = messages.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const s = messages[mid]!.seq
    if (s === seq) return mid
    if (s < seq) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}

/** A stored message arrived (live or synced, in seq order): the conversation after it. */
export function withMessage (state: ConvState, m: Envelope, me: string): ConvState {
  const next: ConvState = { ...state, lastSeq: Math.max(state.lastSeq, m.seq) }
  if (m.from === me && next.pending.some((p) => p.cid === m.cid)) next.pending = next.pending.filter((p) => p.cid !== m.cid)
  if (isOp(m.kind)) {
    const messages = [...state.messages]
    if (applyOp(messages, m)) next.messages = messages
    else next.orphanOps = [...state.orphanOps, m]
    return next
  }
  const messages = [...state.messages]
  const item = shown(m)
  // Live messages come in order; an older page may have been merged meanwhile.
  if (messages.length === 0 || messages[messages.length - 1]!.seq < m.seq) messages.push(item)
  else if (indexOfSeq(messages, m.seq) < 0) {
    messages.push(item)
    messages.sort((a, b) => a.seq - b.seq)
  }
  next.messages = messages
  next.activity = Math.max(state.activity, m.ts)
  // A typing indicator stops when its author's message arrives.
  if (next.typing[m.from] !== undefined) {
    next.typing = { ...next.typing }
    delete next.typing[m.from]
  }
  return next
}

/** An older page was loaded: merged below, and the ops that waited for its messages applied. */
export function withOlder (state: ConvState, older: Envelope[], loadedFrom: number): ConvState {
  const messages = [...older.filter((m) => !isOp(m.kind)).map(shown), ...state.messages]
    .sort((a, b) => a.seq - b.seq)
    .filter((m, i, all) => i === 0 || all[i - 1]!.seq !== m.seq)
  const ops = [...older.filter((m) => isOp(m.kind)), ...state.orphanOps].sort((a, b) => a.seq - b.seq)
  const orphans: Envelope[] = []
  for (const op of ops) if (!applyOp(messages, op)) orphans.push(op)
  return { ...state, messages, orphanOps: orphans, loadedFrom, loadingOlder: false }
}

/** Messages from others after this user's read receipt (an estimate below the loaded window). */
export function unreadCount (state: ConvState, me: string): number {
  let count = 0
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const m = state.messages[i]!
    if (m.seq <= state.read) break
    if (m.from !== me && m.from !== '$system') count++
  }
  if (state.read < state.loadedFrom - 1) count += state.loadedFrom - 1 - state.read
  return count
}

export type Tick = 'sending' | 'failed' | 'sent' | 'delivered' | 'read'

/** Where one of this user's messages stands with the others: read or delivered when every other member is there. */
export function tickOf (state: ConvState, m: ShownMessage, me: string): Tick {
  if (m.pending !== undefined) return m.pending.state
  const others = otherMembers(state, me)
  if (others.length === 0) return 'sent'
  const of = (u: string): Receipts => state.receipts[u] ?? { delivered: 0, read: 0 }
  if (others.every((u) => of(u).read >= m.seq)) return 'read'
  if (others.every((u) => of(u).delivered >= m.seq || of(u).read >= m.seq)) return 'delivered'
  return 'sent'
}

export function otherMembers (state: ConvState, me: string): string[] {
  if (state.type === 'direct') {
    const other = partnerOf(state.conv, me)
    return other === undefined ? [] : [other]
  }
  if (state.members !== undefined) return state.members.map((m) => m.user).filter((u) => u !== me)
  return Object.keys(state.receipts).filter((u) => u !== me)
}

/** The name to show: the other user of a direct chat, else the group's or channel's name. */
export function titleOf (state: ConvState, me: string): string {
  if (state.type === 'direct') return partnerOf(state.conv, me) ?? state.conv
  return state.name ?? state.conv
}

/** The newest message worth a line in the list. */
export function lastShown (state: ConvState): ShownMessage | undefined {
  return state.pending[state.pending.length - 1] ?? state.messages[state.messages.length - 1]
}

export function mayPost (state: ConvState): boolean {
  return state.type !== 'channel' || state.role === 'owner' || state.role === 'admin'
}
