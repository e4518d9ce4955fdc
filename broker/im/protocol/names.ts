import { z } from 'zod'

/** A user name: also part of client ids, topics and direct conversation ids. */
export const USER_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/
/** A device name: the part of the client id after `{user}/`. */
export const DEVICE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/
/** A conversation id: `d:{a}:{b}`, `g:{id}` or `c:{id}`. */
export const CONV_PATTERN = /^(d:[a-z0-9][a-z0-9_.-]{0,63}:[a-z0-9][a-z0-9_.-]{0,63}|[gc]:[a-z2-7]{12})$/
/** Client-chosen ids: a message's `cid`, a request's `req`. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/

export const userName = z.string().regex(USER_PATTERN, 'not a user name')
export const convId = z.string().regex(CONV_PATTERN, 'not a conversation id')
export const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
export const clientRef = z.string().regex(CLIENT_ID_PATTERN, 'must be 1-64 of A-Z a-z 0-9 _ -')

/** `{user}/{device}` → its parts, or null when it is not of that form. */
export function parseClientId (clientId: string): { user: string, device: string } | null {
  const slash = clientId.indexOf('/')
  if (slash <= 0) return null
  const user = clientId.slice(0, slash)
  const device = clientId.slice(slash + 1)
  return USER_PATTERN.test(user) && DEVICE_PATTERN.test(device) ? { user, device } : null
}
