import { randomBytes } from 'node:crypto'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** A fresh call id (protocol's CALL_ID_PATTERN): 120 random bits. */
export function newCallId (): string {
  return [...randomBytes(24)].map((b) => BASE32[b & 31]).join('')
}
