import { MAX_TOKEN_TTL_SECONDS, TokenError } from '../index.js'
import { adminRequest } from './admin-client.js'
import { parseAdminArgs } from './admin-args.js'

/** A token lives 15 minutes unless told otherwise: long enough to connect, short if it leaks. */
export const DEFAULT_TTL = '15m'

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** `hail token NAME [--ttl 15m]`: print a token for NAME, and nothing else, to stdout. */
export async function tokenCommand (args: string[], io: { env: NodeJS.ProcessEnv, cwd: string, stdout: NodeJS.WritableStream }): Promise<number> {
  const { dataDir, redis, positionals, values } = parseAdminArgs(args, {
    command: 'token',
    positionals: ['NAME'],
    options: { ttl: { type: 'string', arg: 'TTL' } }
  }, io)
  const ttlSeconds = parseTtl(values.ttl as string | undefined ?? DEFAULT_TTL)
  const { token } = await adminRequest({ dataDir, redis }, 'token.issue', { user: positionals[0]!, ttlSeconds }) as { token: string }
  io.stdout.write(`${token}\n`)
  return 0
}

/** `90s`, `15m`, `12h`, `30d` to seconds; throws TokenError HAIL_ERR_BAD_TTL. */
export function parseTtl (text: string): number {
  const match = /^(\d{1,7})([smhd])$/.exec(text)
  const seconds = match === null ? NaN : Number(match[1]) * UNITS[match[2]!]!
  if (!(seconds >= 1 && seconds <= MAX_TOKEN_TTL_SECONDS)) {
    throw new TokenError('HAIL_ERR_BAD_TTL', `bad --ttl '${text}': give a number and a unit s, m, h or d, from 1s to 30d (as in 15m)`)
  }
  return seconds
}
