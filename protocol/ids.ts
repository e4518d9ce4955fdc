import type { ConvType } from './events.js'

/** A user name: also part of client ids, topics and direct conversation ids. */
export const USER_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/
/** A device name: the part of the client id after `{user}/`. */
export const DEVICE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/
/** A conversation id: `d:{a}:{b}`, `g:{id}` or `c:{id}`. */
export const CONV_PATTERN = /^(d:[a-z0-9][a-z0-9_.-]{0,63}:[a-z0-9][a-z0-9_.-]{0,63}|[gc]:[a-z2-7]{12})$/
/** Client-chosen ids: a message's `cid`, a request's `req`. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/
/** Call ids are made by the server: 24 lowercase base32 characters. */
export const CALL_ID_PATTERN = /^[a-z2-7]{24}$/

/** `{user}/{device}` → its parts, or null when it is not of that form. */
export function parseClientId (clientId: string): { user: string, device: string } | null {
  const slash = clientId.indexOf('/')
  if (slash <= 0) return null
  const user = clientId.slice(0, slash)
  const device = clientId.slice(slash + 1)
  return USER_PATTERN.test(user) && DEVICE_PATTERN.test(device) ? { user, device } : null
}

/** What kind of conversation an id names, from its prefix (`d:`, `g:`, `c:`), or null. */
export function convTypeOf (conv: string): ConvType | null {
  if (conv.startsWith('d:')) return 'direct'
  if (conv.startsWith('g:')) return 'group'
  if (conv.startsWith('c:')) return 'channel'
  return null
}

/** The id of the direct conversation between users `a` and `b`, in either order: one pair, one id. */
export function directConvOf (a: string, b: string): string {
  return a <= b ? `d:${a}:${b}` : `d:${b}:${a}`
}
