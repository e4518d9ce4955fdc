import { randomBytes } from 'node:crypto'
import { directConvOf, USER_PATTERN } from '../../../protocol/index.js'
import { StoreInputError } from './errors.js'

/**
 * Conversation ids. They double as store keys and MQTT topic levels, so they
 * use only [a-z0-9_.:-]: never '/', '+', '#' (topics) or '!' (key separator).
 *
 *   d:{a}:{b}   a direct conversation; a <= b, so one pair has one id
 *   g:{id}      a group
 *   c:{id}      a broadcast channel
 *
 * {id} is 12 characters of lowercase RFC 4648 base32 (60 random bits).
 */
export type { ConvType } from '../../../protocol/index.js'

export type ParsedConvId =
  | { type: 'direct', id: string, users: [string, string] }
  | { type: 'group', id: string, groupId: string }
  | { type: 'channel', id: string, channelId: string }

/** User names as broker/users accepts them. */
export const USER_NAME = USER_PATTERN

const RANDOM_ID = /^[a-z2-7]{12}$/
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

export function isUserName (name: unknown): name is string {
  return typeof name === 'string' && USER_NAME.test(name)
}

/** The id of the direct conversation between `a` and `b` (either order). */
export function directConvId (a: string, b: string): string {
  for (const name of [a, b]) {
    if (!isUserName(name)) throw new StoreInputError(`not a user name: ${JSON.stringify(name)}`)
  }
  return directConvOf(a, b)
}

/** A new group id, `g:` and 12 random base32 characters. */
export function newGroupId (): string {
  return 'g:' + randomId()
}

/** A new channel id, `c:` and 12 random base32 characters. */
export function newChannelId (): string {
  return 'c:' + randomId()
}

/**
 * What `id` names, or null when it is not a conversation id in its one
 * canonical form (a direct id with its names out of order is refused).
 */
export function parseConvId (id: unknown): ParsedConvId | null {
  if (typeof id !== 'string' || id.length < 3 || id[1] !== ':') return null
  const rest = id.slice(2)
  switch (id[0]) {
    case 'd': {
      const parts = rest.split(':')
      if (parts.length !== 2) return null
      const [a, b] = parts
      if (!isUserName(a) || !isUserName(b) || a > b) return null
      return { type: 'direct', id, users: [a, b] }
    }
    case 'g':
      return RANDOM_ID.test(rest) ? { type: 'group', id, groupId: rest } : null
    case 'c':
      return RANDOM_ID.test(rest) ? { type: 'channel', id, channelId: rest } : null
    default:
      return null
  }
}

/** `parseConvId` for store entry points: throws instead of returning null. */
export function requireConvId (id: unknown): ParsedConvId {
  const parsed = parseConvId(id)
  if (parsed === null) throw new StoreInputError(`not a conversation id: ${JSON.stringify(id)}`)
  return parsed
}

export function requireUserName (name: unknown): string {
  if (!isUserName(name)) throw new StoreInputError(`not a user name: ${JSON.stringify(name)}`)
  return name
}

function randomId (): string {
  // 256 is a multiple of 32, so `byte & 31` is uniform
  let id = ''
  for (const byte of randomBytes(12)) id += BASE32[byte & 31]
  return id
}
