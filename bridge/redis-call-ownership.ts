import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { Redis } from 'ioredis'
import pino, { type Logger } from 'pino'
import { ImError, type Caller } from '../broker/index.js'
import type { ErrorCode } from '../protocol/index.js'
import type { CallAction, CallEmitter, CallFacts, CallOwnership, OwnerHandlers } from './call-ownership.js'

export interface RedisCallOwnershipOptions {
  /** redis://host:port/db, or a client to share (then close() leaves it open). */
  redis: string | Redis
  logger?: Logger
  /** Default 'hail:call:'. */
  keyPrefix?: string
  /** A call whose owner stopped refreshing its lease this long is taken for lost; default 15 s (as node liveness). */
  leaseTtlMs?: number
  /** How often the owner refreshes its leases and every node looks for lost calls; default 5 s. */
  heartbeatMs?: number
  /** How long a node waits for the owner's answer to a forwarded command; default 10 s. */
  requestTimeoutMs?: number
  /** Default: host name, pid and random bytes (unique per process start). */
  nodeId?: string
}

/** Internal topics on aedes' emitter: `$` topics match no client filter and the ACL refuses `$hail/` to clients. */
export const CALL_STATE_TOPIC = '$hail/call/state'
export const callNodeTopic = (node: string): string => `$hail/call/node/${node}`

type Listener = Parameters<CallEmitter['on']>[1]
interface Pending { resolve: (value: { result: unknown }) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }
interface Remote { owner: string, users: Set<string> }

/**
 * Calls across nodes on one Redis. Each call has a lease `{prefix}lease:{id}`
 * holding its owner's node id (TTL refreshed by the owner) and its facts
 * `{prefix}info:{id}` (parties, caller, spans). Other nodes hear every
 * owned call's parties on aedes' emitter (so they authorize im/call/{id}/#
 * synchronously), and hand their devices' commands, signals and disconnects
 * to the owner on `$hail/call/node/{owner}`; the owner answers there too.
 * When a lease expires (its node died), one node wins `{prefix}reap:{id}`
 * and ends the call for everyone through the bridge's `lost` handler.
 * Each user in an owned call (accepted or joined) has `{prefix}user:{name}`
 * = call id, refreshed with the lease and as short-lived, so every node sees
 * them busy, and a dead node's users are free again within one lease.
 */
export class RedisCallOwnership implements CallOwnership {
  nodeId: string
  readonly #redis: Redis
  readonly #ownsRedis: boolean
  #log: Logger
  readonly #prefix: string
  readonly #ttl: number
  readonly #heartbeat: number
  readonly #timeout: number
  readonly #held = new Set<string>()
  /** Owned calls' users that have a user key. */
  readonly #inCall = new Map<string, Set<string>>()
  readonly #remote = new Map<string, Remote>()
  readonly #pending = new Map<string, Pending>()
  #emitter: CallEmitter | undefined
  #handlers: OwnerHandlers | undefined
  #timer: NodeJS.Timeout | undefined
  #seq = 0
  #closing: Promise<void> | undefined
  readonly #onState: Listener = (message, done) => { this.#heardState(message.payload); done() }
  readonly #onNode: Listener = (message, done) => { this.#heardRequest(message.payload); done() }

  constructor (options: RedisCallOwnershipOptions) {
    this.#ownsRedis = typeof options.redis === 'string'
    this.#redis = typeof options.redis === 'string' ? new Redis(options.redis, { maxRetriesPerRequest: 3, lazyConnect: true }) : options.redis
    this.#log = options.logger ?? pino({ level: 'silent' })
    this.#prefix = options.keyPrefix ?? 'hail:call:'
    this.#ttl = options.leaseTtlMs ?? 15_000
    this.#heartbeat = options.heartbeatMs ?? 5_000
    this.#timeout = options.requestTimeoutMs ?? 10_000
    this.nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
    if (/[/+#\n]/.test(this.nodeId)) throw new TypeError('a call node id has no /, +, # or newline')
    this.#redis.on('error', (err: Error) => this.#log.warn({ err }, 'calls: Redis connection error'))
  }

  /**
   * Before start(): take the server's run id (Backend.runId) as this node's id, so calls'
   * leases name the same run as everything else of the node, and log through its logger.
   */
  identify (runId: string, logger: Logger): void {
    if (this.#emitter !== undefined) throw new Error('identify() comes before start()')
    if (/[/+#\n]/.test(runId)) throw new TypeError('a call node id has no /, +, # or newline')
    this.nodeId = runId
    this.#log = logger
  }

  async start (emitter: CallEmitter, handlers: OwnerHandlers): Promise<void> {
    this.#emitter = emitter
    this.#handlers = handlers
    await new Promise<void>((resolve) => emitter.on(CALL_STATE_TOPIC, this.#onState, resolve))
    await new Promise<void>((resolve) => emitter.on(callNodeTopic(this.nodeId), this.#onNode, resolve))
    this.#timer = setInterval(() => { void this.#tick() }, this.#heartbeat)
    this.#timer.unref()
    this.#log.info({ run: this.nodeId }, 'calls: joined the cluster')
  }

  async claim (callId: string): Promise<boolean> {
    const won = await this.#redis.set(this.#key('lease', callId), this.nodeId, 'PX', this.#ttl, 'NX')
    if (won !== 'OK') return false
    await this.#redis.sadd(`${this.#prefix}calls`, callId)
    this.#held.add(callId)
    return true
  }

  owns (callId: string): boolean {
    return this.#held.has(callId)
  }

  update (facts: CallFacts): void {
    if (!this.#held.has(facts.id)) return
    this.#redis.set(this.#key('info', facts.id), JSON.stringify(facts))
      .catch((err: unknown) => this.#log.warn({ err, callId: facts.id }, 'calls: facts not stored'))
    this.#emit(CALL_STATE_TOPIC, { node: this.nodeId, callId: facts.id, users: facts.users })
  }

  inCall (callId: string, users: string[]): void {
    const before = this.#inCall.get(callId) ?? new Set<string>()
    if (!this.#held.has(callId) && before.size === 0) return
    const now = new Set(users)
    const batch = this.#redis.pipeline()
    for (const user of now) if (!before.has(user)) batch.set(this.#key('user', user), callId, 'PX', this.#ttl)
    for (const user of before) if (!now.has(user)) batch.eval(DEL_IF_EQUAL, 1, this.#key('user', user), callId)
    if (now.size === 0) this.#inCall.delete(callId)
    else this.#inCall.set(callId, now)
    if (batch.length === 0) return
    batch.exec().catch((err: unknown) => this.#log.warn({ err, callId }, 'calls: who is in the call not stored; busy checks on other nodes may miss it'))
  }

  async busyCallOf (user: string): Promise<string | undefined> {
    const callId = await this.#redis.get(this.#key('user', user))
    if (callId === null) return undefined
    // A user key outlives its call by at most one lease: a call without a lease is over.
    return this.#held.has(callId) || await this.#redis.exists(this.#key('lease', callId)) === 1 ? callId : undefined
  }

  async enterCall (callId: string, user: string): Promise<string | undefined> {
    const other = await this.#redis.eval(ENTER_IF_FREE, 1, this.#key('user', user), callId, this.#ttl, this.#key('lease', '')) as string | null
    if (other !== null) return other
    // Kept (and refreshed) from now on; the bridge's next inCall() drops the user if the accept fails after all.
    this.#inCall.set(callId, (this.#inCall.get(callId) ?? new Set<string>()).add(user))
    return undefined
  }

  async release (callId: string): Promise<void> {
    this.inCall(callId, [])
    if (!this.#held.delete(callId)) return
    this.#emit(CALL_STATE_TOPIC, { node: this.nodeId, callId, ended: true })
    await this.#forget(callId).catch((err: unknown) => this.#log.warn({ err, callId }, 'calls: lease not released'))
  }

  isRemoteParty (callId: string, user: string): boolean {
    return this.#remote.get(callId)?.users.has(user) === true
  }

  remoteCallsOf (user: string): string[] {
    return [...this.#remote].filter(([, r]) => r.users.has(user)).map(([id]) => id)
  }

  async forwardAct (caller: Caller, callId: string, action: CallAction): Promise<{ result: unknown } | undefined> {
    const owner = await this.#ownerOf(callId)
    if (owner === undefined) return undefined
    const req = `${this.nodeId}:${++this.#seq}`
    const answer = new Promise<{ result: unknown }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(req)
        reject(new ImError('HAIL_ERR_INTERNAL', `the node running call ${callId} did not answer; try again`))
      }, this.#timeout)
      this.#pending.set(req, { resolve, reject, timer })
    })
    this.#emit(callNodeTopic(owner), { t: 'act', req, from: this.nodeId, callId, action, caller: party(caller) })
    return await answer
  }

  async forwardSignal (caller: Caller, callId: string, topic: string, payload: Buffer): Promise<boolean> {
    const owner = await this.#ownerOf(callId)
    if (owner === undefined) return false
    this.#emit(callNodeTopic(owner), { t: 'signal', callId, caller: party(caller), topic, payload: payload.toString('base64') })
    return true
  }

  forwardDrop (caller: Caller, callId: string): void {
    const owner = this.#remote.get(callId)?.owner
    if (owner !== undefined) this.#emit(callNodeTopic(owner), { t: 'drop', callId, caller: party(caller) })
  }

  close (): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer)
      for (const [req, p] of this.#pending) {
        clearTimeout(p.timer)
        p.reject(new ImError('HAIL_ERR_INTERNAL', 'the server is closing'))
        this.#pending.delete(req)
      }
      const emitter = this.#emitter
      if (emitter !== undefined) {
        await stopListening(emitter, CALL_STATE_TOPIC, this.#onState)
        await stopListening(emitter, callNodeTopic(this.nodeId), this.#onNode)
      }
      if (this.#ownsRedis && this.#redis.status === 'wait') this.#redis.disconnect()
      else if (this.#ownsRedis) await this.#redis.quit().catch(() => this.#redis.disconnect())
    })()
    return this.#closing
  }

  /** The owner of a call another node runs: heard on the emitter, else read from its lease. */
  async #ownerOf (callId: string): Promise<string | undefined> {
    const known = this.#remote.get(callId)?.owner
    if (known !== undefined) return known
    const [owner, info] = await this.#redis.mget(this.#key('lease', callId), this.#key('info', callId))
    if (owner === null || owner === undefined || owner === this.nodeId) return undefined
    const facts = parseFacts(info ?? null)
    if (facts !== null) this.#remote.set(callId, { owner, users: new Set(facts.users) })
    return owner
  }

  /** Refresh this node's leases; end calls whose owner stopped refreshing theirs. */
  async #tick (): Promise<void> {
    try {
      if (this.#held.size > 0) {
        const batch = this.#redis.pipeline()
        for (const id of this.#held) {
          batch.set(this.#key('lease', id), this.nodeId, 'PX', this.#ttl, 'XX')
          for (const user of this.#inCall.get(id) ?? []) batch.set(this.#key('user', user), id, 'PX', this.#ttl)
        }
        await batch.exec()
      }
      // An 'ended' missed while the emitter reconnected leaves a stale entry: drop calls Redis no longer lists
      // (only those heard before the listing: a call is listed before its parties are told).
      const known = [...this.#remote.keys()]
      const ids = await this.#redis.smembers(`${this.#prefix}calls`)
      for (const id of known) if (!ids.includes(id)) this.#remote.delete(id)
      for (const id of ids) {
        if (this.#held.has(id) || await this.#redis.exists(this.#key('lease', id)) === 1) continue
        if (await this.#redis.set(this.#key('reap', id), this.nodeId, 'PX', 60_000, 'NX') !== 'OK') continue
        const facts = parseFacts(await this.#redis.get(this.#key('info', id)))
        this.#remote.delete(id)
        if (facts !== null) {
          this.#log.warn({ callId: id }, 'calls: the node running a call is gone; ending it')
          this.#emit(CALL_STATE_TOPIC, { node: this.nodeId, callId: id, ended: true })
          await this.#handlers?.lost(facts)
        }
        await this.#forget(id, facts?.users ?? [])
      }
    } catch (err) {
      this.#log.warn({ err }, 'calls: lease round failed; next round retries')
    }
  }

  async #forget (callId: string, users: string[] = []): Promise<void> {
    const batch = this.#redis.multi().del(this.#key('info', callId), this.#key('lease', callId)).srem(`${this.#prefix}calls`, callId)
    for (const user of users) batch.eval(DEL_IF_EQUAL, 1, this.#key('user', user), callId)
    await batch.exec()
  }

  #heardState (payload: Buffer | string | undefined): void {
    const m = parseJson(payload) as { node?: unknown, callId?: unknown, users?: unknown, ended?: unknown } | null
    if (m === null || m.node === this.nodeId || typeof m.node !== 'string' || typeof m.callId !== 'string') return
    if (m.ended === true) this.#remote.delete(m.callId)
    else if (Array.isArray(m.users)) this.#remote.set(m.callId, { owner: m.node, users: new Set(m.users.filter((u): u is string => typeof u === 'string')) })
  }

  #heardRequest (payload: Buffer | string | undefined): void {
    const m = parseJson(payload) as Record<string, any> | null
    if (m === null || typeof m.t !== 'string') return
    if (m.t === 'res') {
      const p = this.#pending.get(m.req)
      if (p === undefined) return
      this.#pending.delete(m.req)
      clearTimeout(p.timer)
      if (m.ok === true) p.resolve({ result: m.result })
      else p.reject(new ImError((m.error?.code ?? 'HAIL_ERR_INTERNAL') as ErrorCode, String(m.error?.message ?? 'the call\'s node failed')))
      return
    }
    const handlers = this.#handlers
    const caller = m.caller as Caller | undefined
    if (handlers === undefined || typeof caller?.user !== 'string' || typeof caller.device !== 'string' || typeof m.callId !== 'string') return
    if (m.t === 'act') {
      handlers.act(caller, m.callId, m.action as CallAction).then(
        (result) => this.#emit(callNodeTopic(String(m.from)), { t: 'res', req: m.req, ok: true, result }),
        (err: unknown) => {
          const code = err instanceof ImError ? err.code : 'HAIL_ERR_INTERNAL'
          if (!(err instanceof ImError)) this.#log.error({ err, callId: m.callId }, 'calls: forwarded command failed')
          this.#emit(callNodeTopic(String(m.from)), { t: 'res', req: m.req, ok: false, error: { code, message: err instanceof ImError ? err.message : 'the server could not handle this command' } })
        })
    } else if (m.t === 'signal' && typeof m.topic === 'string' && typeof m.payload === 'string') {
      handlers.signal(caller, m.topic, Buffer.from(m.payload, 'base64'))
        .catch((err: unknown) => this.#log.warn({ err, callId: m.callId }, 'calls: forwarded signal failed'))
    } else if (m.t === 'drop') {
      handlers.drop(caller, m.callId)
    }
  }

  #emit (topic: string, message: Record<string, unknown>): void {
    this.#emitter?.emit({ topic, payload: Buffer.from(JSON.stringify(message)) }, (err) => {
      if (err !== undefined && err !== null) this.#log.error({ err, topic }, 'calls: could not reach other nodes')
    })
  }

  #key (kind: 'lease' | 'info' | 'reap' | 'user', id: string): string {
    return `${this.#prefix}${kind}:${id}`
  }
}

/** Delete KEYS[1] only while it still names the call ARGV[1] (the user may be in a newer call by now). */
const DEL_IF_EQUAL = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

/** Set KEYS[1] to the call ARGV[1] unless it names another call whose lease (ARGV[3] .. id) lives; then return that call. */
const ENTER_IF_FREE = `local other = redis.call('get', KEYS[1])
if other and other ~= ARGV[1] and redis.call('exists', ARGV[3] .. other) == 1 then return other end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`

const party = (c: Caller): Caller => ({ user: c.user, device: c.device })

function parseJson (payload: Buffer | string | undefined): unknown {
  try {
    return JSON.parse(String(payload))
  } catch {
    return null
  }
}

function parseFacts (text: string | null): CallFacts | null {
  if (text === null) return null
  const f = parseJson(text) as CallFacts | null
  return f !== null && typeof f.id === 'string' && typeof f.conv === 'string' && Array.isArray(f.users) ? f : null
}

async function stopListening (emitter: CallEmitter, topic: string, listener: Listener, ms = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    new Promise<void>((resolve) => emitter.removeListener(topic, listener, resolve)),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })
  ])
  clearTimeout(timer)
}
