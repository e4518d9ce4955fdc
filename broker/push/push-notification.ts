import type { Envelope } from '../../protocol/index.js'

/** Characters of a text message a notification shows. */
export const PREVIEW_CHARS = 100

/** One stored message, as the push webhook is told about it. */
export interface PushNotification {
  conv: string
  seq: number
  from: string
  ts: number
  kind: string
  /** The start of a `text` message; absent for every other kind, `cipher` (end-to-end encrypted) above all. */
  preview?: string
}

/** What the webhook receives: one POST per user per batch. */
export interface PushBody {
  v: 1
  user: string
  notifications: PushNotification[]
  tokens: Array<{ device: string, token: string, platform: string }>
}

/**
 * The notification of a stored message. Only plain text gets a preview: a
 * `cipher` body is end-to-end encrypted and the server must not leak even its
 * shape, and data, files, edits or reactions have nothing to show a person.
 */
export function notificationOf (envelope: Envelope): PushNotification {
  const { conv, seq, from, ts, kind } = envelope
  const notification: PushNotification = { conv, seq, from, ts, kind }
  if (kind === 'text') {
    const text = (envelope.body as { text?: unknown } | null)?.text
    // By code point, so a cut never splits a surrogate pair (an emoji) in two.
    if (typeof text === 'string') notification.preview = Array.from(text.slice(0, PREVIEW_CHARS * 2)).slice(0, PREVIEW_CHARS).join('')
  }
  return notification
}
