import type { Aedes } from 'aedes'
import type { Logger } from 'pino'
import type { DurablePublish } from '../mqtt/durable-publish.js'
import type { RedisJournal } from '../persistence/redis-journal.js'

export interface JournalAdopterOptions {
  journal: RedisJournal
  durable: DurablePublish
  aedes: Aedes
  /**
   * The key whose presence says this node lives: the IM cluster's expiring
   * node key (RedisImCluster.livenessKey), so that one notion of "node dead"
   * drives both presence and journal adoption.
   */
  liveness: string
  /** How often to look for dead nodes' journals; default 5 s (the liveness heartbeat). */
  everyMs?: number
  logger: Logger
  /** Told of each dead node's journal taken over, with how many entries (metrics). */
  onAdopted?: (entries: number) => void
}

/**
 * Takes over the publish journals of nodes that died (DESIGN.md, invariant
 * 1, across nodes). A node that dies after a PUBACK and before aedes stored
 * the message leaves the entry in its Redis journal; it would be published
 * only when that node starts again with the same data directory, which may
 * be never. Every node registers its journal under its liveness key and
 * looks, at start and then every few seconds, for registered journals whose
 * owner's key expired: RedisJournal.adopt() moves their entries atomically
 * into this node's own journal, and DurablePublish publishes and completes
 * them. An adopter that dies half-way leaves them in its own journal, to be
 * adopted in turn. A dead node that comes back while being adopted
 * replays what it still finds: an entry may arrive twice, never not at all.
 */
export class JournalAdopter {
  readonly #o: JournalAdopterOptions
  readonly #log: Logger
  #timer: NodeJS.Timeout | undefined
  #running: Promise<number> | undefined
  #closed = false

  constructor (options: JournalAdopterOptions) {
    this.#o = options
    this.#log = options.logger
  }

  /** Make this node's journal adoptable once its liveness key lapses; call before replaying it. */
  async register (): Promise<void> {
    await this.#o.journal.register(this.#o.liveness)
  }

  /** Register, adopt what dead nodes left now, then keep looking. */
  async start (): Promise<number> {
    await this.register()
    const adopted = await this.adoptNow()
    if (!this.#closed) {
      this.#timer = setInterval(() => {
        this.adoptNow().catch((err: unknown) => this.#log.warn({ err }, 'journal adoption failed: will try again'))
      }, this.#o.everyMs ?? 5000)
      this.#timer.unref()
    }
    return adopted
  }

  /** One pass over every registered journal; resolves with how many entries this node took over. */
  adoptNow (): Promise<number> {
    if (this.#closed) return Promise.resolve(0)
    this.#running ??= this.#pass().finally(() => { this.#running = undefined })
    return this.#running
  }

  /** Stop looking; waits for a pass under way (its entries are published or left to this node's retries). */
  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    await this.#running?.catch(() => {})
  }

  async #pass (): Promise<number> {
    const { journal, durable, aedes } = this.#o
    let total = 0
    for (const owner of await journal.owners()) {
      let adopted = 0
      let published = 0
      for (;;) {
        if (this.#closed) break
        const entries = await journal.adopt(owner)
        if (entries.length === 0) break
        adopted += entries.length
        published += await durable.publishAdopted(aedes, entries)
      }
      if (adopted === 0) continue
      total += adopted
      this.#o.onAdopted?.(adopted)
      this.#log.info({ deadNode: owner.node, adopted, published }, 'adopted the publish journal of a dead node')
    }
    return total
  }
}
