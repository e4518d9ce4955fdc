import type { Logger } from 'pino'
import type { Authenticate } from './authenticate.js'

/** What SysAdmins reads of a user: the admin flag (`hail user admin NAME on|off`). */
export interface AdminFlags {
  get: (name: string) => Promise<{ readonly admin: boolean } | undefined>
}

/**
 * Which connected users are admins, answered at once: access checks run on
 * every subscription and delivery and cannot wait for a store. The flag is
 * read when a user logs in, before its CONNACK, so a SUBSCRIBE sent right
 * after it is judged with it; refresh() reads it again for the admins known,
 * so `hail user admin NAME off` (or deleting the user) takes their `$SYS/`
 * away within one interval. Turning the flag on takes effect at the user's
 * next login. Admins are few: the set holds only them.
 */
export class SysAdmins {
  readonly #users: AdminFlags
  readonly #log: Logger
  readonly #admins = new Set<string>()

  constructor (users: AdminFlags, log: Logger) {
    this.#users = users
    this.#log = log
  }

  has (user: string): boolean {
    return this.#admins.has(user)
  }

  /** `authenticate` followed by a read of the user's admin flag, for a login it accepted. */
  authenticate (authenticate: Authenticate): Authenticate {
    return async (credentials) => {
      const result = await authenticate(credentials)
      if (result.ok && result.user !== null) await this.#read(result.user, false)
      return result
    }
  }

  /** Read the flag of every admin known again. */
  async refresh (): Promise<void> {
    await Promise.all([...this.#admins].map(async (user) => { await this.#read(user, true) }))
  }

  /** When the store cannot answer, a login is no admin's (nothing is granted unread); a known admin stays one. */
  async #read (user: string, known: boolean): Promise<void> {
    try {
      if ((await this.#users.get(user))?.admin === true) this.#admins.add(user)
      else this.#admins.delete(user)
    } catch (err) {
      if (!known) this.#admins.delete(user)
      this.#log.warn({ err: (err as Error).message, user }, known ? 'cannot read the admin flag again: kept as it was' : 'cannot read the admin flag: $SYS/ withheld from this login')
    }
  }
}
