import type { Redis } from 'ioredis'
import pino, { type Logger } from 'pino'
import { DEFAULT_REDIS_PREFIX } from '../storage/index.js'
import { isUserName } from './user-store.js'

/** What one node (or `hail user del --redis`) tells every node of a Redis deployment about accounts. */
export interface UserNotice {
  op: 'user.del' | 'user.unlock'
  name: string
}

export interface RedisUserNoticesOptions {
  /** The node's store connection: notices are heard on a duplicate of it (a subscribed connection serves nothing else). */
  redis: Redis
  /** Close this node's connections of a deleted user (for every notice heard, this node's own included); returns how many. */
  onUserDeleted: (name: string) => number
  /** Lift this node's lockout of an account (`hail user unlock`; every node keeps its own login guard). */
  onUserUnlocked?: (name: string) => void
  logger?: Logger
  /** Default 'hail:'; the channel is `{prefix}users:notice`. */
  prefix?: string
}

const channelOf = (prefix: string): string => `${prefix}users:notice`

/**
 * Account changes every node of a Redis deployment must act on at once: a
 * deleted user's live MQTT connections are closed on every node, whether
 * the user was deleted through one node's admin socket or by `hail user del
 * --redis` with no node asked. A plain Redis pub/sub channel: a node that is
 * cut off from Redis when a notice is sent misses it (its clients then stay
 * until they disconnect, and cannot log in again, as the user is gone).
 */
export class RedisUserNotices {
  readonly #sub: Redis
  readonly #prefix: string
  readonly #channel: string
  readonly #log: Logger
  readonly #onUserDeleted: (name: string) => number
  readonly #onUserUnlocked: ((name: string) => void) | undefined
  readonly #publisher: Redis
  #closing: Promise<void> | undefined
  readonly #onMessage = (channel: string, message: string): void => {
    if (channel !== this.#channel) return
    const notice = parseNotice(message)
    if (notice === null) {
      this.#log.warn({ channel }, 'users: ignored a malformed account notice')
      return
    }
    if (notice.op === 'user.unlock') {
      this.#onUserUnlocked?.(notice.name)
      this.#log.info({ user: notice.name }, 'users: account unlocked on this node')
      return
    }
    const closed = this.#onUserDeleted(notice.name)
    if (closed > 0) this.#log.info({ user: notice.name, closed }, 'users: user deleted; closed its connections on this node')
    else this.#log.debug({ user: notice.name }, 'users: user deleted; no connection of it on this node')
  }

  private constructor (options: RedisUserNoticesOptions) {
    this.#publisher = options.redis
    this.#sub = options.redis.duplicate()
    this.#prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
    this.#channel = channelOf(this.#prefix)
    this.#log = options.logger ?? pino({ level: 'silent' })
    this.#onUserDeleted = options.onUserDeleted
    this.#onUserUnlocked = options.onUserUnlocked
    // The connection reconnects and subscribes again by itself (ioredis); errors are the stores' to report.
    this.#sub.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'users: notice connection error'))
  }

  /** Start hearing notices; resolves once subscribed. */
  static async listen (options: RedisUserNoticesOptions): Promise<RedisUserNotices> {
    const notices = new RedisUserNotices(options)
    notices.#sub.on('message', notices.#onMessage)
    try {
      await notices.#sub.subscribe(notices.#channel)
    } catch (err) {
      notices.#sub.disconnect()
      throw err
    }
    return notices
  }

  /** Tell every listening node; resolves with how many connections heard it (one per running node). */
  static async publish (redis: Redis, notice: UserNotice, prefix = DEFAULT_REDIS_PREFIX): Promise<number> {
    return await redis.publish(channelOf(prefix), JSON.stringify(notice))
  }

  /** Tell every node, this one included, that `name` was deleted (on this node's store connection); failures are logged. */
  userDeleted (name: string): void {
    const notice: UserNotice = { op: 'user.del', name }
    RedisUserNotices.publish(this.#publisher, notice, this.#prefix)
      .catch((err: unknown) => this.#log.error({ err, notice }, 'users: could not tell the other nodes; their clients of this user stay connected'))
  }

  /** Tell every node, this one included, to lift its lockout of `name`; failures are logged. */
  userUnlocked (name: string): void {
    const notice: UserNotice = { op: 'user.unlock', name }
    RedisUserNotices.publish(this.#publisher, notice, this.#prefix)
      .catch((err: unknown) => this.#log.error({ err, notice }, 'users: could not tell the other nodes; their lockout of this account stays'))
  }

  close (): Promise<void> {
    this.#closing ??= this.#sub.quit().then(() => {}, () => { this.#sub.disconnect() })
    return this.#closing
  }
}

function parseNotice (text: string): UserNotice | null {
  try {
    const m = JSON.parse(text) as Partial<UserNotice>
    return (m.op === 'user.del' || m.op === 'user.unlock') && typeof m.name === 'string' && isUserName(m.name) ? { op: m.op, name: m.name } : null
  } catch {
    return null
  }
}
