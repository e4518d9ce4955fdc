/**
 * The IM topic names (docs/protocol.md, "Topics"), built and parsed in one
 * place. Parsing works on a topic the broker already checked (no wildcards).
 */
export const topics = {
  /** A device publishes a message here (QoS 1). */
  send: (conv: string): string => `im/send/${conv}`,
  /** A device publishes a request here (QoS 1). */
  cmd: (method: string): string => `im/cmd/${method}`,
  /** Typing indicators (QoS 0, never stored). */
  typing: (conv: string): string => `im/typing/${conv}`,
  /** A chunk of an upload. */
  file: (uploadId: string, index: number): string => `im/file/${uploadId}/${index}`,
  /** Everything addressed to a user; with `conv`, what concerns that conversation. */
  inbox: (user: string, conv?: string): string => conv === undefined ? `im/inbox/${user}` : `im/inbox/${user}/${conv}`,
  /** The filter a device subscribes for its user's inbox: matches `im/inbox/{user}` too (MQTT 3.1.1 §4.7.1.2). */
  inboxFilter: (user: string): string => `im/inbox/${user}/#`,
  /** Answers to one device's requests. */
  reply: (user: string, device: string): string => `im/reply/${user}/${device}`,
  /** A user's presence, retained, published by the server only. */
  presence: (user: string): string => `im/presence/${user}`,
  /** The live feed of a channel. */
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
