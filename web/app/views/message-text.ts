import type { ShownMessage } from '../chat/conversation-state.js'
import { size } from '../text/size-text.js'
import { duration } from '../text/time-text.js'

interface CallBody { media?: { video?: boolean }, reason?: string, durationMs?: number, from?: string }
interface FileBody { name?: string, size?: number, type?: string }

/** One line for the conversation list. */
export function preview (m: ShownMessage, me: string): string {
  if (m.deleted) return 'Message recalled'
  if (m.pending?.state === 'failed') return `Not sent: ${m.pending.error ?? ''}`
  switch (m.kind) {
    case 'text': return m.text ?? ''
    case 'file': {
      const f = m.body as FileBody
      return `${f.type?.startsWith('image/') === true ? 'Photo' : 'File'}: ${f.name ?? ''}`
    }
    case 'call': return callSummary(m.body as CallBody, me)
    case 'data': return 'Data'
    case 'cipher': return 'Encrypted message'
    default: return m.from === '$system' ? systemText(m, me) : m.kind
  }
}

/** "Video call · 2:14" or "Missed voice call". */
export function callSummary (body: CallBody, me: string): string {
  const kind = body.media?.video === true ? 'video call' : 'voice call'
  const caller = body.from?.split('/')[0]
  switch (body.reason) {
    case 'missed': return caller === me ? `Unanswered ${kind}` : `Missed ${kind}`
    case 'rejected': return `Declined ${kind}`
    case 'busy': return `${capital(kind)} · busy`
    case 'cancelled': return `Cancelled ${kind}`
    default: return `${capital(kind)} · ${duration(body.durationMs ?? 0)}`
  }
}

/** Group and channel events the server writes into the log. */
export function systemText (m: ShownMessage, me: string): string {
  const b = m.body as { by?: string, name?: string, users?: string[], user?: string, members?: string[] }
  const who = (u: string | undefined): string => u === me ? 'You' : (u ?? 'someone')
  const list = (us: string[] | undefined): string => (us ?? []).map((u) => u === me ? 'you' : u).join(', ')
  switch (m.kind) {
    case 'conv.created': return `${who(b.by)} created “${b.name ?? ''}”`
    case 'member.joined': return `${who(b.by)} added ${list(b.users)}`
    case 'member.removed': return `${who(b.by)} removed ${list(b.users)}`
    case 'member.left': return `${who(b.user)} left`
    case 'conv.renamed': return `${who(b.by)} renamed it “${b.name ?? ''}”`
    default: return m.kind
  }
}

export function fileLine (body: FileBody): string {
  return `${body.name ?? 'file'} · ${size(body.size ?? 0)}`
}

function capital (s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
