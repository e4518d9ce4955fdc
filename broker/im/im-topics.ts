/**
 * The IM topic names (docs/protocol.md, "Topics"), built and parsed in one
 * place. Parsing works on a topic the broker already checked (no wildcards).
 */
export const topics = {
  inbox: (user: string, conv?: string): string => conv === undefined ? `im/inbox/${user}` : `im/inbox/${user}/${conv}`,
  reply: (user: string, device: string): string => `im/reply/${user}/${device}`,
  presence: (user: string): string => `im/presence/${user}`,
  feed: (conv: string): string => `im/conv/${conv}`
}

export type ImTopic =
  | { kind: 'send', conv: string }
  | { kind: 'cmd', method: string }
  | { kind: 'typing', conv: string }
  | { kind: 'inbox', user: string, conv?: string }
  | { kind: 'reply', user: string, device: string }
  | { kind: 'presence', user: string }
  | { kind: 'feed', conv: string }
  | { kind: 'file', uploadId: string, index: number }

/** `im/...` → what it addresses, or null for anything not in the protocol. */
export function parseImTopic (topic: string): ImTopic | null {
  const levels = topic.split('/')
  if (levels[0] !== 'im' || levels.some((l) => l === '')) return null
  const [, kind, a, b] = levels
  switch (levels.length) {
    case 3:
      if (kind === 'send') return { kind: 'send', conv: a! }
      if (kind === 'cmd') return { kind: 'cmd', method: a! }
      if (kind === 'typing') return { kind: 'typing', conv: a! }
      if (kind === 'inbox') return { kind: 'inbox', user: a! }
      if (kind === 'presence') return { kind: 'presence', user: a! }
      if (kind === 'conv') return { kind: 'feed', conv: a! }
      return null
    case 4:
      if (kind === 'inbox') return { kind: 'inbox', user: a!, conv: b! }
      if (kind === 'reply') return { kind: 'reply', user: a!, device: b! }
      // im/file/{uploadId}/{index}: a chunk of an upload; the index is a plain decimal
      if (kind === 'file' && /^(0|[1-9]\d{0,8})$/.test(b!)) return { kind: 'file', uploadId: a!, index: Number(b) }
      return null
    default:
      return null
  }
}
