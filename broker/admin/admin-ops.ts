import { z } from 'zod'
import { describeIssues } from '../config.js'
import { AdminError, BackupError } from '../errors.js'
import type { BackupReport } from '../integrity/index.js'
import type { TokenService } from '../users/tokens.js'
import type { User, UserStore } from '../users/user-store.js'

/** What the admin ops act on: the server's, or those the CLI opens itself when no server runs. */
export interface AdminContext {
  users: UserStore
  tokens: TokenService
  /** Called after a user was deleted; the server disconnects that user's clients. */
  onUserDeleted?: (name: string) => void
  /** Lift an account's login lockout; absent where no daemon runs (a lockout lives in the daemon's memory). */
  unlockUser?: (name: string) => Promise<UnlockSummary>
  /** A consistent copy of the data directory's database and stored files into `dir` (integrity/backup-data-dir.ts). */
  backup?: (dir: string) => Promise<BackupReport>
}

/** What `hail user unlock` did. */
export interface UnlockSummary {
  name: string
  /** Whether a daemon (or, with Redis, how many nodes) heard it; alone, none: no lockout can hold. */
  nodes: number
  /** Whether the account was waiting, and its failures now forgotten (with Redis, read there). */
  wasLocked?: boolean
  failures?: number
}

/** A user as the admin channel shows it: no stamp, no hash. */
export interface UserSummary {
  name: string
  /** Milliseconds since the epoch. */
  created: number
  /** May open the dashboard and `$SYS`. */
  admin: boolean
}

const name = z.string()
const password = z.string()

/** Each op: its arguments' schema and what it does; results are plain JSON. */
const ops = {
  'user.add': {
    args: z.strictObject({ name, password, admin: z.boolean().optional() }),
    run: async (c: AdminContext, a: { name: string, password: string, admin?: boolean }): Promise<UserSummary> =>
      summary(await c.users.add(a.name, a.password, { admin: a.admin === true }))
  },
  'user.admin': {
    args: z.strictObject({ name, admin: z.boolean() }),
    run: async (c: AdminContext, a: { name: string, admin: boolean }): Promise<UserSummary> => {
      await c.users.setAdmin(a.name, a.admin)
      const user = await c.users.get(a.name)
      if (user === undefined) throw new AdminError(`user '${a.name}' was deleted meanwhile`)
      return summary(user)
    }
  },
  'user.del': {
    args: z.strictObject({ name }),
    run: async (c: AdminContext, a: { name: string }): Promise<{ name: string }> => {
      await c.users.delete(a.name)
      c.onUserDeleted?.(a.name)
      return { name: a.name }
    }
  },
  'user.passwd': {
    args: z.strictObject({ name, password }),
    run: async (c: AdminContext, a: { name: string, password: string }): Promise<{ name: string }> => {
      await c.users.setPassword(a.name, a.password)
      return { name: a.name }
    }
  },
  'user.list': {
    args: z.strictObject({}),
    run: async (c: AdminContext): Promise<UserSummary[]> => (await c.users.list()).map(summary)
  },
  'user.unlock': {
    args: z.strictObject({ name }),
    run: async (c: AdminContext, a: { name: string }): Promise<UnlockSummary> => await c.unlockUser?.(a.name) ?? { name: a.name, nodes: 0 }
  },
  'data.backup': {
    args: z.strictObject({ dir: z.string().min(1) }),
    run: async (c: AdminContext, a: { dir: string }): Promise<BackupReport> => {
      if (c.backup === undefined) throw new BackupError('nothing to back up here: the users and messages of a Redis deployment live in Redis (back it up with its own tools: BGSAVE, or its AOF)')
      return await c.backup(a.dir)
    }
  },
  'token.issue': {
    args: z.strictObject({ user: name, ttlSeconds: z.number() }),
    run: async (c: AdminContext, a: { user: string, ttlSeconds: number }): Promise<{ token: string, expires: number }> => {
      const { token, expires } = await c.tokens.issue(a.user, a.ttlSeconds)
      return { token, expires }
    }
  }
} as const

export type AdminOp = keyof typeof ops
export const adminOps = Object.keys(ops) as AdminOp[]

/**
 * Run one admin op. The admin socket and the CLI's direct mode both call
 * this, so an op behaves the same whether or not a server holds the data.
 * Throws AdminError for an unknown op or bad arguments, and the store's own
 * errors (UserError, TokenError, StoreError) as they are.
 */
export async function runAdminOp (context: AdminContext, op: string, args: unknown): Promise<unknown> {
  if (!Object.hasOwn(ops, op)) throw new AdminError(`unknown op '${op}': use one of ${adminOps.join(', ')}`)
  const spec = ops[op as AdminOp]
  const parsed = spec.args.safeParse(args ?? {})
  if (!parsed.success) throw new AdminError(`${op}: ${describeIssues(parsed.error)}`)
  return await (spec.run as (c: AdminContext, a: unknown) => Promise<unknown>)(context, parsed.data)
}

function summary (user: User): UserSummary {
  return { name: user.name, created: user.created, admin: user.admin }
}
