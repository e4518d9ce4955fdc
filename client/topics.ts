import { HailClientError } from './errors.js'

/** The IM topic names a device uses (docs/protocol.md, "Topics"). */
export const topics = {
  send: (conv: string): string => `im/send/${conv}`,
  cmd: (method: string): string => `im/cmd/${method}`,
  typing: (conv: string): string => `im/typing/${conv}`,
  /** Matches `im/inbox/{user}` too (MQTT 3.1.1 §4.7.1.2). */
  inbox: (user: string): string => `im/inbox/${user}/#`,
  reply: (user: string, device: string): string => `im/reply/${user}/${device}`,
  presence: (user: string): string => `im/presence/${user}`,
  feed: (conv: string): string => `im/conv/${conv}`
}

/** The channel feeds are the only topics a conversation id names on its own. */
export function isChannel (conv: string): boolean {
  return conv.startsWith('c:')
}

/**
 * Whether `name` can stand as one topic level: the server checks the exact
 * syntax; this keeps wildcards and separators from changing which topic a
 * publish or subscribe addresses.
 */
export function isTopicLevel (name: string): boolean {
  return name.length > 0 && name.length <= 128 && !/[/+#\u0000]/.test(name)
}

/** Throws HAIL_ERR_BAD_ARGUMENT unless `conv` can stand as one topic level. */
export function checkConv (conv: string): void {
  if (!isTopicLevel(conv)) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `'${conv}' is not a conversation id`)
}
