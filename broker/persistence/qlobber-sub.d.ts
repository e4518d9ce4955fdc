// qlobber ships no typings; this covers the part the persistence uses:
// QlobberSub, the trie aedes' own persistences keep subscriptions in.
declare module 'qlobber/aedes/qlobber-sub.js' {
  interface QlobberSubOptions {
    separator?: string
    wildcard_one?: string
    wildcard_some?: string
    match_empty_levels?: boolean
    max_words?: number
    max_wildcard_somes?: number
  }

  /** A subscription as the trie takes and returns it. */
  interface TrieSubscription {
    clientId: string
    topic: string
    qos?: number
    rh?: number
    rap?: boolean
    nl?: boolean
  }

  class QlobberSub {
    constructor (options?: QlobberSubOptions)
    /** QoS>0 subscriptions held, one per (client, topic filter). */
    readonly subscriptionsCount: number
    add (topic: string, sub: TrieSubscription): this
    remove (topic: string, sub: { clientId: string, topic: string }): this
    /** Every subscription whose filter matches the topic name. */
    match (topic: string): TrieSubscription[]
    clear (): this
  }

  export = QlobberSub
}
