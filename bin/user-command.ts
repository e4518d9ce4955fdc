import { checkUserName, type UnlockSummary, type UserSummary } from '../index.js'
import { adminRequest } from './admin-client.js'
import { parseAdminArgs, type AdminArgsSpec } from './admin-args.js'
import { UsageError } from './errors.js'
import { readPassword } from './read-password.js'
import { didYouMean } from './suggest.js'

interface Io {
  env: NodeJS.ProcessEnv
  cwd: string
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

const passwordOptions: AdminArgsSpec['options'] = { 'password-stdin': { type: 'boolean' } }
const addOptions: AdminArgsSpec['options'] = { ...passwordOptions, admin: { type: 'boolean' } }
const SUBCOMMANDS = ['add', 'del', 'passwd', 'admin', 'unlock', 'list'] as const
const SWITCH: Readonly<Record<string, boolean>> = { on: true, off: false }

/** `hail user add|del|passwd|admin|list ...`: manage accounts, through the daemon if one runs. Resolves with the exit code. */
export async function userCommand (args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args
  switch (sub) {
    case 'add':
    case 'passwd': {
      const { dataDir, redis, positionals, values } = parseAdminArgs(rest, { command: `user ${sub}`, positionals: ['NAME'], options: sub === 'add' ? addOptions : passwordOptions }, io)
      const name = positionals[0]!
      checkUserName(name) // before asking for a password that would then be refused
      const password = await readPassword({ fromStdin: values['password-stdin'] === true, confirm: true })
      const admin = values.admin === true
      await adminRequest({ dataDir, redis }, sub === 'add' ? 'user.add' : 'user.passwd', sub === 'add' && admin ? { name, password, admin } : { name, password })
      io.stderr.write(sub === 'add' ? `hail: user ${name} added${admin ? ' as an admin' : ''}\n` : `hail: password of ${name} changed; its tokens no longer work\n`)
      return 0
    }
    case 'admin': {
      const { dataDir, redis, positionals } = parseAdminArgs(rest, { command: 'user admin', positionals: ['NAME', 'on|off'] }, io)
      const [name, flag] = positionals as [string, string]
      const admin = SWITCH[flag]
      if (admin === undefined) throw new UsageError(`user admin: '${flag}' is not on or off`)
      await adminRequest({ dataDir, redis }, 'user.admin', { name, admin })
      io.stderr.write(`hail: ${name} is ${admin ? 'now an admin' : 'no longer an admin'}\n`)
      return 0
    }
    case 'del': {
      const { dataDir, redis, positionals } = parseAdminArgs(rest, { command: 'user del', positionals: ['NAME'] }, io)
      await adminRequest({ dataDir, redis }, 'user.del', { name: positionals[0]! })
      io.stderr.write(`hail: user ${positionals[0]!} deleted\n`)
      return 0
    }
    case 'unlock': {
      const { dataDir, redis, positionals } = parseAdminArgs(rest, { command: 'user unlock', positionals: ['NAME'] }, io)
      const name = positionals[0]!
      checkUserName(name)
      const done = await adminRequest({ dataDir, redis }, 'user.unlock', { name }) as UnlockSummary
      io.stderr.write(`hail: ${unlocked(done, redis !== null ? 'Redis' : dataDir)}\n`)
      return 0
    }
    case 'list': {
      const { dataDir, redis } = parseAdminArgs(rest, { command: 'user list', positionals: [] }, io)
      const users = await adminRequest({ dataDir, redis }, 'user.list', {}) as UserSummary[]
      io.stdout.write(users.map((u) => `${u.name}\t${new Date(u.created).toISOString()}${u.admin ? '\tadmin' : ''}\n`).join(''))
      return 0
    }
    case undefined:
      throw new UsageError('user: missing subcommand: add, del, passwd, admin, unlock or list')
    default:
      throw new UsageError(`user: unknown subcommand '${sub}'${didYouMean(sub, SUBCOMMANDS) || ': use add, del, passwd, admin, unlock or list'}`)
  }
}

function unlocked (done: UnlockSummary, where: string): string {
  if (done.nodes === 0 && done.wasLocked === undefined) return `no daemon runs on ${where}: a login lockout lives only in a running daemon's memory, so none holds ${done.name} back`
  if (done.wasLocked === undefined) return `unlock of ${done.name} sent to ${done.nodes} running node${done.nodes === 1 ? '' : 's'}`
  const forgotten = `${done.failures ?? 0} failed login${done.failures === 1 ? '' : 's'} forgotten`
  return done.wasLocked ? `${done.name} unlocked (${forgotten}): the next login is checked at once` : `${done.name} was not locked out (${forgotten})`
}
