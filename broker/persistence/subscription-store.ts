import QlobberSub from 'qlobber/aedes/qlobber-sub.js'
import { StoreError } from '../errors.js'
import { clientKey } from './client-key.js'
import type { GroupCommit, GroupCommitOperation, LevelDatabase } from '../storage/index.js'
import { KeyedLock } from '../storage/index.js'

/** A subscription as aedes hands it to the persistence. */
export interface Subscription {
  topic: string
  qos: number
  rh?: number
  rap?: boolean
  nl?: boolean
  /** MQTT 5 subscription identifier, restored with the session. */
  subscriptionIdentifier?: number
}

/** A subscription matched by topic, as aedes enqueues for it. */
export interface ClientSubscription {
  clientId: string
  topic: string
  qos?: number
  rh?: number
  rap?: boolean
  nl?: boolean
}

type SubscriptionRecord = Omit<Subscription, 'topic'>

// [MQTT-4.7.1-3]: '+' matches an empty level, as aedes' own mqemitter does.
const TRIE_OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/', match_empty_levels: true }
const UTF8 = 'utf8'

type TrieRecord = Omit<ClientSubscription, 'clientId' | 'topic'>

/**
 * A filter's subscribers while there is one (a device's own inbox, the usual
 * case): what QlobberSub's methods use of a Map (size, has, iteration),
 * without a hash table (~0.15 KiB less per such filter).
 */
class OneSubscriber {
  constructor (readonly clientId: string, readonly record: TrieRecord) {}
  get size (): number { return 1 }
  has (clientId: string): boolean { return clientId === this.clientId }
  * [Symbol.iterator] (): Generator<[string, TrieRecord]> { yield [this.clientId, this.record] }
}

/**
 * What QlobberSub keeps for one topic filter, with its iterator (used by
 * qlobber's match_iter and visit) a method of the class: QlobberSub 8 makes a
 * generator closure per filter, about 0.1 KiB of every persistent session's
 * subscription. The same fields and the same iteration.
 */
class TopicSubscribers {
  constructor (readonly topic: string, public clientMap: Map<string, TrieRecord> | OneSubscriber) {}

  * [Symbol.iterator] (topic?: string): Generator<ClientSubscription | Omit<ClientSubscription, 'topic'>> {
    if (topic === undefined) {
      for (const [clientId, sub] of this.clientMap) yield { topic: this.topic, clientId, ...sub }
    } else if (this.topic === topic) {
      for (const [clientId, sub] of this.clientMap) yield { clientId, ...sub }
    }
  }
}

const trieRecord = (val: ClientSubscription): TrieRecord => ({ qos: val.qos, rh: val.rh, rap: val.rap, nl: val.nl })

/**
 * QlobberSub (qlobber/aedes/qlobber-sub.js) with TopicSubscribers as the value
 * of each filter, holding a OneSubscriber until a second client subscribes.
 * Replaces its `_initial_value`, `_add_value` and `_remove_value`; its
 * `_add_values` and `test_values` read the value through size, has and
 * iteration, which both kinds answer.
 */
export class LeanQlobberSub extends QlobberSub {
  _initial_value (val: ClientSubscription): TopicSubscribers {
    (this as { subscriptionsCount: number }).subscriptionsCount += 1
    return new TopicSubscribers(val.topic, new OneSubscriber(val.clientId, trieRecord(val)))
  }

  _add_value (existing: TopicSubscribers, val: ClientSubscription): void {
    const map = existing.clientMap
    if (map instanceof OneSubscriber) {
      if (map.clientId === val.clientId) {
        existing.clientMap = new OneSubscriber(val.clientId, trieRecord(val))
        return
      }
      existing.clientMap = new Map([[map.clientId, map.record], [val.clientId, trieRecord(val)]])
      ;(this as { subscriptionsCount: number }).subscriptionsCount += 1
      return
    }
    const size = map.size
    map.set(val.clientId, trieRecord(val))
    if (map.size > size) (this as { subscriptionsCount: number }).subscriptionsCount += 1
  }

  /** Whether the filter has no subscriber left (qlobber then drops it). */
  _remove_value (existing: TopicSubscribers, val: { clientId: string }): boolean {
    const map = existing.clientMap
    if (map instanceof OneSubscriber) {
      if (map.clientId !== val.clientId) return false
      ;(this as { subscriptionsCount: number }).subscriptionsCount -= 1
      return true
    }
    if (map.delete(val.clientId)) (this as { subscriptionsCount: number }).subscriptionsCount -= 1
    return map.size === 0
  }
}

/**
 * The subscriptions of persistent sessions. They live in memory (a map per
 * client for restoring sessions, a QlobberSub trie for matching publishes) and
 * on disk, where every change is written with sync: a subscription lost in a
 * crash silently loses every message meant for it. Memory changes only once
 * the disk has, so the two never disagree; changes of one client are applied
 * one at a time so that order holds on both.
 */
export class SubscriptionStore {
  readonly #db: LevelDatabase
  readonly #groupCommit: GroupCommit | undefined
  readonly #byClient = new Map<string, Map<string, SubscriptionRecord>>()
  readonly #trie = new LeanQlobberSub(TRIE_OPTIONS)
  readonly #lock = new KeyedLock()

  constructor (db: LevelDatabase, groupCommit?: GroupCommit) {
    if (groupCommit !== undefined && !groupCommit.covers(db)) {
      throw new StoreError('the persistence and its group commit must use one database')
    }
    this.#db = db
    this.#groupCommit = groupCommit
  }

  /** Reads every stored subscription into memory; called once at setup. */
  async load (): Promise<void> {
    this.#byClient.clear()
    this.#trie.clear()
    for await (const value of this.#db.values({ keyEncoding: UTF8, valueEncoding: UTF8 })) {
      const { clientId, topic, ...record } = JSON.parse(value as string) as SubscriptionRecord & { clientId: string, topic: string }
      this.#apply(clientId, topic, record)
    }
  }

  add (clientId: string, subs: Subscription[]): Promise<void> {
    return this.#lock.run(clientId, async () => {
      // The last of several filters with one topic wins, as it does in memory.
      // Unchanged ones are not written again: aedes 1.2 stores a SUBSCRIBE's
      // whole list once per filter it grants, and each write is an fsync.
      const latest = new Map(subs.map(sub => [sub.topic, recordOf(sub)]))
      const stored = this.#byClient.get(clientId)
      const ops: GroupCommitOperation[] = []
      for (const [topic, record] of latest) {
        const value = JSON.stringify({ clientId, topic, ...record })
        const previous = stored?.get(topic)
        if (previous !== undefined && JSON.stringify({ clientId, topic, ...previous }) === value) continue
        ops.push({ type: 'put', key: clientKey(clientId) + topic, value })
      }
      await this.#write(ops)
      for (const [topic, record] of latest) this.#apply(clientId, topic, record)
    })
  }

  remove (clientId: string, topics: string[]): Promise<void> {
    return this.#lock.run(clientId, async () => {
      // memory mirrors the disk, so only what memory holds needs deleting
      const stored = this.#byClient.get(clientId)
      const held = topics.filter(topic => stored?.has(topic) === true)
      await this.#write(held.map(topic => ({ type: 'del', key: clientKey(clientId) + topic })))
      for (const topic of held) this.#unapply(clientId, topic)
    })
  }

  /** Removes every subscription of the client. */
  clean (clientId: string): Promise<void> {
    return this.#lock.run(clientId, async () => {
      const topics = [...(this.#byClient.get(clientId)?.keys() ?? [])]
      await this.#write(topics.map(topic => ({ type: 'del', key: clientKey(clientId) + topic })))
      for (const topic of topics) this.#unapply(clientId, topic)
    })
  }

  byClient (clientId: string): Subscription[] {
    const stored = this.#byClient.get(clientId)
    if (stored === undefined) return []
    return [...stored].map(([topic, record]) => ({ topic, ...record }))
  }

  byTopic (topic: string): ClientSubscription[] {
    return this.#trie.match(topic)
  }

  count (): { subsCount: number, clientsCount: number } {
    return { subsCount: this.#trie.subscriptionsCount, clientsCount: this.#byClient.size }
  }

  /** Ids of the clients holding a subscription to exactly `topic`. */
  * clientsOf (topic: string): Generator<string> {
    for (const [clientId, stored] of this.#byClient) {
      if (stored.has(topic)) yield clientId
    }
  }

  /** Resolves once every change issued so far has settled. */
  idle (): Promise<void> {
    return this.#lock.idle()
  }

  #apply (clientId: string, topic: string, record: SubscriptionRecord): void {
    let stored = this.#byClient.get(clientId)
    if (stored === undefined) {
      stored = new Map()
      this.#byClient.set(clientId, stored)
    }
    const previous = stored.get(topic)
    // only QoS>0 subscriptions get offline messages, so only they are matched
    if (record.qos > 0) {
      this.#trie.add(topic, { clientId, topic, qos: record.qos, rh: record.rh, rap: record.rap, nl: record.nl })
    } else if (previous !== undefined && previous.qos > 0) {
      this.#trie.remove(topic, { clientId, topic })
    }
    stored.set(topic, record)
  }

  #unapply (clientId: string, topic: string): void {
    const stored = this.#byClient.get(clientId)
    const previous = stored?.get(topic)
    if (stored === undefined || previous === undefined) return
    if (previous.qos > 0) this.#trie.remove(topic, { clientId, topic })
    stored.delete(topic)
    if (stored.size === 0) this.#byClient.delete(clientId)
  }

  async #write (ops: GroupCommitOperation[]): Promise<void> {
    if (ops.length === 0) return
    const encoded = ops.map(op => ({ ...op, keyEncoding: UTF8, valueEncoding: UTF8 }) as GroupCommitOperation)
    if (this.#groupCommit !== undefined) {
      if (this.#groupCommit.db !== this.#db) {
        for (const op of encoded) op.sublevel = this.#db
      }
      await this.#groupCommit.write(encoded)
      return
    }
    try {
      await (this.#db.batch as (ops: unknown[], options: object) => Promise<void>)
        .call(this.#db, encoded, { sync: true })
    } catch (cause) {
      throw new StoreError('could not write subscriptions', { cause })
    }
  }
}

// Only the fields the subscription has: a record read back must equal what
// was stored, and an absent field is not the same as one set to undefined.
function recordOf (sub: Subscription): SubscriptionRecord {
  const record: SubscriptionRecord = { qos: sub.qos }
  if (sub.rh !== undefined) record.rh = sub.rh
  if (sub.rap !== undefined) record.rap = sub.rap
  if (sub.nl !== undefined) record.nl = sub.nl
  if (sub.subscriptionIdentifier !== undefined) record.subscriptionIdentifier = sub.subscriptionIdentifier
  return record
}
