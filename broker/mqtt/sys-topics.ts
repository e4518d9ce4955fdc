import type { Aedes, PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import type { Metrics } from '../metrics.js'
import type { MqttPersistence } from '../persistence/mqtt-persistence.js'
import { hailVersion } from '../version.js'
import { SysAdmins, type AdminFlags } from './sys-admins.js'

/** Where a single node publishes its status, as Mosquitto does. */
export const SYS_ROOT = '$SYS/broker'

/** Averaging windows of the `load/...` topics, in seconds, with their topic suffixes. */
const LOAD_WINDOWS = [[60, '1min'], [300, '5min'], [900, '15min']] as const

/** An update or a clear that never comes back (a store that hangs) holds up start and shutdown no longer than this. */
const STOP_WAIT = 2000

export interface SysTopicsOptions {
  /** Seconds between updates; 0 publishes nothing (and clears what an earlier run left). */
  intervalSeconds: number
  metrics: Metrics
  /** The node's stores: its kind picks the topics' root, its persistence counts retained messages and sessions. */
  backend: { readonly kind: 'embedded' | 'redis', readonly nodeId: string, readonly persistence: MqttPersistence }
  /** Where the admin flags are read (the user store). */
  users: AdminFlags
  logger: Logger
}

/** A counter's moving averages (per minute), as Mosquitto computes its `load/...` topics. */
interface Load {
  last: number
  readonly averages: number[]
}

/**
 * The broker's status on Mosquitto's `$SYS/broker/...` topics (mosquitto(8),
 * "Broker status"), published retained every `intervalSeconds`, each topic
 * only when its value changed, so a new subscriber sees every figure at
 * once and a quiet broker sends little. The figures are those metrics.ts
 * already keeps for /metrics. Who may read them is access.ts's business
 * (admins and the ACL file's read rules); no client may publish there.
 *
 * With Redis every node publishes its own figures under
 * `$SYS/broker/nodes/{nodeId}/...`: the retained store and the routing are
 * shared, so one `$SYS/broker/uptime` would carry whichever node spoke last.
 */
export class SysTopics {
  readonly admins: SysAdmins
  /** `$SYS/broker`, or `$SYS/broker/nodes/{nodeId}` on a node sharing Redis. */
  readonly root: string
  readonly #options: SysTopicsOptions
  readonly #log: Logger
  #aedes: Aedes | undefined
  #timer: NodeJS.Timeout | undefined
  #ticking: Promise<void> | undefined
  /** What each topic last carried, so an unchanged value is not sent again. */
  readonly #sent = new Map<string, string>()
  readonly #loads = new Map<string, Load>()
  #startedAt = 0
  #lastTick = 0
  #maxClients = 0
  #maxHeap = 0

  constructor (options: SysTopicsOptions) {
    this.#options = options
    this.#log = options.logger
    this.admins = new SysAdmins(options.users, options.logger)
    this.root = options.backend.kind === 'redis' ? `${SYS_ROOT}/nodes/${options.backend.nodeId}` : SYS_ROOT
  }

  /** Publish the figures now and then every interval; clear what an earlier run left that this one does not publish. */
  async start (aedes: Aedes): Promise<void> {
    this.#aedes = aedes
    this.#startedAt = this.#lastTick = Date.now()
    // Status is no reason to refuse (or delay) the start: a failure is logged, and the next update tries again.
    const first = this.#ticking = (async () => {
      const left = await this.#retainedTopics(`${this.root}/#`)
      if (this.#options.intervalSeconds > 0) await this.#tick()
      await this.#clear(left.filter((topic) => !this.#sent.has(topic)))
    })().catch((err: unknown) => {
      this.#log.warn({ err }, '$SYS: first update failed')
    }).finally(() => { this.#ticking = undefined })
    await bounded(first)
    if (this.#options.intervalSeconds > 0) this.#timer = setInterval(() => { this.#schedule() }, this.#options.intervalSeconds * 1000).unref()
  }

  /**
   * Stop. A node sharing Redis also clears its figures, which other nodes'
   * admins would otherwise go on reading; alone, the figures stay in the
   * data directory (nobody reads them there) and the next start replaces them.
   */
  async close (): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    // An update waiting on a store that does not answer (Redis down) does not hold up shutdown.
    await bounded(this.#ticking ?? Promise.resolve())
    if (this.#options.backend.kind === 'redis') await this.#clear([...this.#sent.keys()])
    this.#sent.clear()
  }

  #schedule (): void {
    // A tick still counting (a slow store) is not run twice at once.
    if (this.#ticking !== undefined) return
    this.#ticking = this.#tick().catch((err: unknown) => {
      this.#log.warn({ err }, '$SYS update failed')
    }).finally(() => { this.#ticking = undefined })
  }

  async #tick (): Promise<void> {
    const { metrics, backend } = this.#options
    const now = Date.now()
    const seconds = Math.max((now - this.#lastTick) / 1000, 0.001)
    this.#lastTick = now
    const connected = metrics.sources.connectedClients()
    const heap = process.memoryUsage().heapUsed
    this.#maxClients = Math.max(this.#maxClients, connected)
    this.#maxHeap = Math.max(this.#maxHeap, heap)
    let bytesIn = 0
    let bytesOut = 0
    for (const { read, written } of metrics.sources.bytes()) {
      bytesIn += read
      bytesOut += written
    }
    const publishIn = await total(metrics.messagesIn)
    const publishOut = await total(metrics.messagesOut)
    const figures: Array<[string, string | number]> = [
      ['version', `hail version ${hailVersion()}`],
      ['uptime', `${Math.floor((now - this.#startedAt) / 1000)} seconds`],
      ['clients/connected', connected],
      ['clients/maximum', this.#maxClients],
      // Hail counts PUBLISH packets (hail_messages_in_total, _out_total); Mosquitto's messages/* count every packet kind.
      ['messages/received', publishIn],
      ['messages/sent', publishOut],
      ['publish/messages/received', publishIn],
      ['publish/messages/sent', publishOut],
      ['bytes/received', bytesIn],
      ['bytes/sent', bytesOut],
      ['subscriptions/count', metrics.sources.subscriptions()],
      ['heap/current', heap],
      ['heap/maximum', this.#maxHeap]
    ]
    if (backend.kind === 'embedded') {
      // The persistence's own count (hail_retained_messages), kept with each write. With Redis
      // the retained store is the cluster's, which no node's figures may claim: left out there.
      const retained = await metrics.sources.retainedMessages()
      if (retained !== undefined) figures.push(['retained messages/count', retained])
      // Sessions are counted in the shared store with Redis, and clients per node: they do not subtract there.
      const disconnected = await this.#disconnectedSessions()
      if (disconnected !== undefined) figures.push(['clients/disconnected', disconnected], ['clients/total', connected + disconnected])
    }
    const loads: Array<[string, number]> = [
      ['messages/received', publishIn],
      ['messages/sent', publishOut],
      ['publish/received', publishIn],
      ['publish/sent', publishOut],
      ['bytes/received', bytesIn],
      ['bytes/sent', bytesOut],
      ['sockets', await total(metrics.connectionsTotal)]
    ]
    for (const [name, value] of loads) {
      const averages = this.#load(name, value, seconds)
      LOAD_WINDOWS.forEach(([, suffix], i) => figures.push([`load/${name}/${suffix}`, averages[i]!.toFixed(2)]))
    }
    await Promise.all(figures.map(async ([topic, value]) => { await this.#publish(`${this.root}/${topic}`, String(value)) }))
    await this.admins.refresh()
  }

  /**
   * Mosquitto's moving average of a counter's rate per minute: each update
   * moves it toward the rate since the last one by 1 - e^(-dt/window).
   */
  #load (name: string, value: number, seconds: number): number[] {
    let load = this.#loads.get(name)
    if (load === undefined) this.#loads.set(name, load = { last: value, averages: LOAD_WINDOWS.map(() => 0) })
    const rate = Math.max(0, value - load.last) * 60 / seconds
    load.last = value
    LOAD_WINDOWS.forEach(([window], i) => {
      load.averages[i] = rate + Math.exp(-seconds / window) * (load.averages[i]! - rate)
    })
    return load.averages
  }

  /** Persistent sessions with a subscription that no connected client holds, where the store can count them. */
  async #disconnectedSessions (): Promise<number | undefined> {
    const persistence = this.#options.backend.persistence as MqttPersistence & { countOffline?: () => Promise<{ clientsCount: number }> }
    if (persistence.countOffline === undefined) return undefined
    const stored = (await persistence.countOffline()).clientsCount
    // aedes stores the subscriptions of clean=false clients only (handlers/subscribe.js).
    const clients = (this.#aedes as unknown as { clients?: Record<string, { clean?: boolean, subscriptions?: object }> } | undefined)?.clients ?? {}
    let held = 0
    for (const client of Object.values(clients)) {
      if (client.clean === false && Object.keys(client.subscriptions ?? {}).length > 0) held++
    }
    return Math.max(0, stored - held)
  }

  async #retainedTopics (filter: string): Promise<string[]> {
    const topics: string[] = []
    for await (const packet of this.#options.backend.persistence.createRetainedStream(filter) as AsyncIterable<{ topic: string }>) {
      topics.push(packet.topic)
    }
    return topics
  }

  async #publish (topic: string, payload: string): Promise<void> {
    if (this.#sent.get(topic) === payload) return
    this.#sent.set(topic, payload)
    try {
      await this.#send(topic, payload)
    } catch (err) {
      this.#sent.delete(topic) // sent again at the next update
      throw err
    }
  }

  /** An empty retained message deletes the retained one [MQTT-3.3.1-10]. */
  async #clear (topics: string[]): Promise<void> {
    if (topics.length === 0) return
    await bounded(Promise.all(topics.map(async (topic) => { await this.#send(topic, '') })))
  }

  #send (topic: string, payload: string): Promise<void> {
    const aedes = this.#aedes
    if (aedes === undefined || aedes.closed) return Promise.resolve()
    const packet = { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false } as PublishPacket
    return new Promise((resolve, reject) => {
      aedes.publish(packet, (err) => { err === undefined || err === null ? resolve() : reject(err) })
    })
  }
}

/** Wait for `work`, but no longer than STOP_WAIT. */
async function bounded (work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, STOP_WAIT) })
  await Promise.race([work.then(() => undefined), timeout])
  clearTimeout(timer)
}

/** A counter's value summed over its labels. */
async function total (counter: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  let sum = 0
  for (const { value } of (await counter.get()).values) sum += value
  return sum
}
