import { checkUserName, type UserSummary } from '../index.js'
import { adminRequest } from './admin-client.js'
import { parseAdminArgs, type AdminArgsSpec } from './admin-args.js'
import { UsageError } from './errors.js'
import { readPassword } from './read-password.js'

interface Io {
  env: NodeJS.ProcessEnv
  cwd: string
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

const passwordOptions: AdminArgsSpec['options'] = { 'password-stdin': { type: 'boolean' } }

/** `hail user add|del|passwd|list ...`: manage accounts, through the daemon if one runs. Resolves with the exit code. */
export async function userCommand (args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args
  switch (sub) {
    case 'add':
    case 'passwd': {
      const { dataDir, redis, positionals, values } = parseAdminArgs(rest, { command: `user ${sub}`, positionals: ['NAME'], options: passwordOptions }, io)
      const name = positionals[0]!
      checkUserName(name) // before asking for a password that would then be refused
      const password = await readPassword({ fromStdin: values['password-stdin'] === true, confirm: true })
      await adminRequest({ dataDir, redis }, sub === 'add' ? 'user.add' : 'user.passwd', { name, password })
      io.stderr.write(sub === 'add' ? `hail: user ${name} added\n` : `hail: password of ${name} changed; its tokens no longer work\n`)
      return 0
    }
    case 'del': {
      const { dataDir, redis, positionals } = parseAdminArgs(rest, { command: 'user del', positionals: ['NAME'] }, io)
      await adminRequest({ dataDir, redis }, 'user.del', { name: positionals[0]! })
      io.stderr.write(`hail: user ${positionals[0]!} deleted\n`)
      return 0
    }
    case 'list': {
      const { dataDir, redis } = parseAdminArgs(rest, { command: 'user list', positionals: [] }, io)
      const users = await adminRequest({ dataDir, redis }, 'user.list', {}) as UserSummary[]
      io.stdout.write(users.map((u) => `${u.name}\t${new Date(u.created).toISOString()}\n`).join(''))
      return 0
    }
    case undefined:
      throw new UsageError('user: missing subcommand: add, del, passwd or list')
    default:
      throw new UsageError(`user: unknown subcommand '${sub}': use add, del, passwd or list`)
  }
}
