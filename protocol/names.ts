import { z } from 'zod'
import { CLIENT_ID_PATTERN, CONV_PATTERN, USER_PATTERN } from './ids.js'

export const userName = z.string().regex(USER_PATTERN, 'not a user name')
export const convId = z.string().regex(CONV_PATTERN, 'not a conversation id')
export const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
export const clientRef = z.string().regex(CLIENT_ID_PATTERN, 'must be 1-64 of A-Z a-z 0-9 _ -')
