import type { Logger } from 'pino'
import type { Membership, MembershipChange } from '../membership.js'
import type { Role } from '../../../protocol/index.js'
import { ROLES } from '../store/conversation-store.js'
import { stopListening, type EmitterListener, type ImEmitter, type MembershipSource } from './im-cluster.js'

/** Not an MQTT client topic: `$` topics match no client filter, and the ACL refuses them to clients. */
export const MEMBERSHIP_TOPIC = '$hail/im/membership'

/** How often a node whose change could not be told asks the others to reload, until one ask goes through. */
const RELOAD_ASK_MS = 2000

export interface MembershipSyncOptions {
  emitter: ImEmitter
  membership: Membership
  load: MembershipSource
  nodeId: string
  logger: Logger
}

/**
 * Keeps this node's membership mirror in step with the other nodes'. Each
 * local change is emitted on aedes' own emitter (mqemitter-redis in Redis
 * mode), the same Redis connection the node's message fan-out goes through,
 * so another node hears "X joined g:1" before it hears the first message of
 * g:1 sent to X, and "X left" before any later one. Changes from other nodes
 * are applied untold; this node's own echoes are ignored (it applied them
 * already, and applying them late would briefly undo a newer change). The
 * mirror is (re)loaded from the store after every (re)subscription, since
 * changes emitted while the subscriber was away are lost; changes heard
 * during a reload are applied on top of it. A change this node could not
 * emit (its publishing connection dropped while the others' subscriptions
 * stayed up) is made good by asking every node to reload, every couple of
 * seconds until an ask goes through.
 */
export class MembershipSync {
  readonly #emitter: ImEmitter
  readonly #membership: Membership
  readonly #load: MembershipSource
  readonly #nodeId: string
  readonly #log: Logger
  readonly #listener: EmitterListener
  readonly #onSubConnect = (): void => { void this.reload().catch(() => {}) }
  #buffer: MembershipChange[] | undefined
  #asking: NodeJS.Timeout | undefined
  #reloading: Promise<void> | undefined
  #again = false
  #closed = false
  #started = false

  constructor (options: MembershipSyncOptions) {
    this.#emitter = options.emitter
    this.#membership = options.membership
    this.#load = options.load
    this.#nodeId = options.nodeId
    this.#log = options.logger
    this.#listener = (message, done) => {
      this.#heard(message.payload ?? '')
      done()
    }
    this.#membership.observe((change) => this.#tell(change))
  }

  /** Subscribe, then load: nothing said between the two is missed. */
  async start (): Promise<void> {
    await new Promise<void>((resolve) => this.#emitter.on(MEMBERSHIP_TOPIC, this.#listener, resolve))
    await this.reload()
    this.#started = true
    // The first 'subConnect' may already be behind us; every later one is a reconnection.
    this.#emitter.state?.on('subConnect', this.#onSubConnect)
  }

  /** Replace the mirror with the store's memberships; concurrent calls coalesce into one more pass. */
  reload (): Promise<void> {
    if (this.#reloading !== undefined) {
      this.#again = true
      return this.#reloading
    }
    this.#reloading = this.#reloadOnce().finally(() => {
      this.#reloading = undefined
      if (this.#again && !this.#closed) {
        this.#again = false
        void this.reload().catch(() => {})
      }
    })
    return this.#reloading
  }

  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#asking)
    this.#emitter.state?.removeListener('subConnect', this.#onSubConnect)
    await stopListening(this.#emitter, MEMBERSHIP_TOPIC, this.#listener)
    await this.#reloading?.catch(() => {})
  }

  async #reloadOnce (): Promise<void> {
    this.#buffer = []
    try {
      const entries: Array<{ conv: string, user: string, role: Role }> = []
      for await (const { conv, user, role } of this.#load()) entries.push({ conv, user, role })
      const heard = this.#buffer
      this.#membership.replace(entries)
      for (const change of heard) this.#membership.apply(change)
      if (this.#started) this.#log.info({ memberships: entries.length, heard: heard.length }, 'membership mirror reloaded')
    } catch (err) {
      this.#log.error({ err }, 'membership mirror reload failed; retrying on the next reconnection')
      throw err
    } finally {
      this.#buffer = undefined
    }
  }

  #tell (change: MembershipChange): void {
    if (this.#closed) return
    const payload = Buffer.from(JSON.stringify({ node: this.#nodeId, change }))
    this.#emitter.emit({ topic: MEMBERSHIP_TOPIC, payload }, (err) => {
      if (err === undefined || err === null) return
      this.#log.error({ err, change }, 'could not tell other nodes of a membership change; asking them to reload until they hear it')
      this.#askReload()
    })
  }

  /** Until one ask is emitted: every node reloads its mirror from the store, which holds the change. */
  #askReload (): void {
    if (this.#asking !== undefined || this.#closed) return
    const payload = Buffer.from(JSON.stringify({ node: this.#nodeId, reload: true }))
    let sending = false
    this.#asking = setInterval(() => {
      if (sending) return
      sending = true
      this.#emitter.emit({ topic: MEMBERSHIP_TOPIC, payload }, (err) => {
        sending = false
        if (err !== undefined && err !== null) return
        clearInterval(this.#asking)
        this.#asking = undefined
        this.#log.info('asked the other nodes to reload their membership mirrors')
      })
    }, RELOAD_ASK_MS)
    this.#asking.unref()
  }

  #heard (payload: Buffer | string): void {
    let message: { node?: unknown, change?: unknown, reload?: unknown }
    try {
      message = JSON.parse(String(payload)) as { node?: unknown, change?: unknown, reload?: unknown }
    } catch (err) {
      this.#log.warn({ err }, 'unreadable membership change ignored')
      return
    }
    if (message.node === this.#nodeId) return
    if (message.reload === true) {
      this.#log.info({ from: message.node }, 'another node missed telling a membership change: reloading')
      void this.reload().catch(() => {})
      return
    }
    const change = parseChange(message.change)
    if (change === null) {
      this.#log.warn({ change: message.change }, 'malformed membership change ignored')
      return
    }
    this.#buffer?.push(change)
    this.#membership.apply(change)
  }
}

function parseChange (value: unknown): MembershipChange | null {
  if (typeof value !== 'object' || value === null) return null
  const { op, conv, user, role } = value as Record<string, unknown>
  if (typeof conv !== 'string' || typeof user !== 'string') return null
  if (op === 'remove') return { op, conv, user }
  if (op === 'set' && ROLES.includes(role as never)) return { op, conv, user, role: role as Role }
  return null
}
