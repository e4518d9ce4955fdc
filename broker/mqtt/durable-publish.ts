import type { Aedes, PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import type { JournalEntry, JournalKey } from '../persistence/journal.js'
import type { PublishJournal } from '../persistence/publish-journal.js'

/**
 * "A PUBACK means durable" (DESIGN.md, invariant 1).
 *
 * aedes 1.2 writes PUBACK before it publishes (lib/handlers/publish.js), and
 * its persistence stores offline copies only afterwards. So every QoS > 0
 * publish is appended to a synced journal in authorizePublish, which runs
 * before the PUBACK; once aedes has stored the retained copy and every
 * offline copy and handed the packet to the emitter, its `published` hook
 * fires and the entry is completed. At start, entries never completed (the
 * process died in between) are published again: subscribers get such a
 * message at least once, as QoS 1 promises.
 *
 * The completion is a plain (unsynced) delete: it shares the database's
 * write-ahead log with the stores' writes that precede it, and LevelDB
 * recovers a prefix of that log, so the delete never survives without them.
 *
 * aedes hands the same packet object to authorizePublish and to published
 * (PublishState keeps the original), which is what ties the two together.
 */
export class DurablePublish {
  readonly #journal: PublishJournal
  readonly #log: Logger
  readonly #keys = new WeakMap<object, JournalKey>()
  /** Journaled and not yet published, with when: what retryStuck() looks at. */
  readonly #inFlight = new Map<JournalKey, { packet: PublishPacket, since: number }>()
  #retryTimer: NodeJS.Timeout | undefined
  #pending = 0
  #idle: Array<() => void> = []
  /** Completion batches being written (a journal may give one promise to many), with how many each carries. */
  readonly #completing = new Map<Promise<void>, number>()

  constructor (journal: PublishJournal, logger: Logger) {
    this.#journal = journal
    this.#log = logger
  }

  /** In flight: journaled but not yet completed. */
  get pending (): number {
    return this.#pending
  }

  /** Journal a QoS > 0 packet, then let aedes go on (and acknowledge it). */
  accept (packet: PublishPacket, done: (err?: Error | null) => void): void {
    if (packet.qos === 0) return done(null)
    this.#pending++
    this.#journal.append(packet).then((key) => {
      this.#keys.set(packet, key)
      this.#inFlight.set(key, { packet, since: Date.now() })
      done(null)
    }, (err: Error) => {
      this.#settleOne()
      // Not stored, so not acknowledged: the client's connection closes and
      // it sends the message again after reconnecting [MQTT-4.4.0-1].
      this.#log.error({ err, topic: packet.topic }, 'journal append failed: publish refused')
      done(err)
    })
  }

  /** aedes finished storing and routing this packet. */
  published (packet: object): void {
    const key = this.#keys.get(packet)
    if (key === undefined) return
    this.#keys.delete(packet)
    // already published again by retryStuck()
    if (!this.#inFlight.delete(key)) return
    const batch = this.#journal.complete(key)
    const carried = this.#completing.get(batch)
    if (carried !== undefined) {
      this.#completing.set(batch, carried + 1)
      return
    }
    this.#completing.set(batch, 1)
    batch.catch((err: unknown) => {
      // Harmless: the entries are replayed at the next start (a duplicate, never a loss).
      this.#log.warn({ err }, 'journal completion failed')
    }).finally(() => {
      const count = this.#completing.get(batch) ?? 0
      this.#completing.delete(batch)
      this.#settle(count)
    })
  }

  /** Publish what was acknowledged but not finished before the last stop. */
  async replay (aedes: Aedes): Promise<number> {
    let count = 0
    for await (const { key, packet } of this.#journal.pending()) {
      await new Promise<void>((resolve, reject) => {
        aedes.publish(packet, (err?: Error) => err ? reject(err) : resolve())
      })
      await this.#journal.complete(key)
      count++
    }
    return count
  }

  /**
   * Publish entries already in this node's journal that it took over from a
   * dead node (RedisJournal.adopt), completing each once aedes has it. One
   * aedes refuses stays in flight, and retryStuck() publishes it again
   * (with startRetrying()), or the next start does. Resolves with how many
   * were published now.
   */
  async publishAdopted (aedes: Aedes, entries: Iterable<JournalEntry>): Promise<number> {
    let published = 0
    for (const { key, packet } of entries) {
      this.#pending++
      const entry = { packet: packet as PublishPacket, since: Infinity }
      this.#inFlight.set(key, entry)
      try {
        await new Promise<void>((resolve, reject) => {
          aedes.publish({ ...packet }, (err?: Error) => err ? reject(err) : resolve())
        })
      } catch (err) {
        entry.since = Date.now()
        this.#log.warn({ err, topic: packet.topic }, 'publishing an adopted journal entry failed: will retry')
        continue
      }
      if (!this.#inFlight.delete(key)) continue
      published++
      await this.#journal.complete(key).catch((err: unknown) => this.#log.warn({ err }, 'journal completion failed'))
      this.#settleOne()
    }
    return published
  }

  /**
   * Publish again what was journaled (and so acknowledged) more than
   * `olderThan` ms ago and never finished: aedes stops a publish whose store
   * write failed (Redis restarting) after its PUBACK, and would otherwise
   * deliver it only at the next start. A duplicate at worst, never a loss.
   */
  async retryStuck (aedes: Aedes, olderThan: number): Promise<number> {
    const now = Date.now()
    let retried = 0
    for (const [key, entry] of [...this.#inFlight]) {
      if (now - entry.since < olderThan) continue
      entry.since = Infinity // not again while this attempt runs
      try {
        await new Promise<void>((resolve, reject) => {
          aedes.publish({ ...entry.packet }, (err?: Error) => err ? reject(err) : resolve())
        })
      } catch (err) {
        entry.since = Date.now()
        this.#log.warn({ err, topic: entry.packet.topic }, 'publishing a stuck journal entry failed: will retry')
        continue
      }
      if (!this.#inFlight.delete(key)) continue
      retried++
      await this.#journal.complete(key).catch((err: unknown) => this.#log.warn({ err }, 'journal completion failed'))
      this.#settleOne()
    }
    if (retried > 0) this.#log.info({ retried }, 'published stuck journal entries again')
    return retried
  }

  /** Run retryStuck() every `every` ms until stopRetrying(). */
  startRetrying (aedes: Aedes, every: number): void {
    this.stopRetrying()
    let running = false
    this.#retryTimer = setInterval(() => {
      if (running || this.#inFlight.size === 0) return
      running = true
      this.retryStuck(aedes, every).finally(() => { running = false })
    }, every)
    this.#retryTimer.unref()
  }

  stopRetrying (): void {
    clearInterval(this.#retryTimer)
    this.#retryTimer = undefined
  }

  /** Wait until nothing is in flight, or `timeout` ms; what is left is replayed next start. */
  async settle (timeout: number): Promise<void> {
    if (this.#pending === 0) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeout)
      this.#idle.push(() => { clearTimeout(timer); resolve() })
    })
  }

  /** Wait for journal writes issued so far (completions are unsynced and queued). */
  flush (): Promise<void> {
    return this.#journal.flush()
  }

  #settleOne (): void {
    this.#settle(1)
  }

  #settle (count: number): void {
    this.#pending -= count
    if (this.#pending === 0) {
      const idle = this.#idle
      this.#idle = []
      for (const fn of idle) fn()
    }
  }
}
