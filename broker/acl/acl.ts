import { isReservedFilter, isReservedTopic, isSysTopic } from '../mqtt/reserved-topics.js'
import type { AclAccess, AclFile } from './acl-file.js'
import { TopicFilter, filterProblem, isTopicName } from './topic-filter.js'

/** Who asks: the authenticated user (null when anonymous) and the MQTT client id. */
export interface AclIdentity {
  readonly user: string | null
  readonly clientId: string
}

export interface AclOptions {
  /** Identities whose `%u` / `%c` patterns are kept compiled; the least recently used go first. */
  readonly cacheSize?: number
}

/**
 * Topic access rules from an ACL file (see acl-file.ts), checked on PUBLISH,
 * SUBSCRIBE and on every delivery (aedes `authorizeForward`, which also runs
 * for retained messages and offline queues, so a revoked right holds).
 *
 * Deny by default. A PUBLISH needs a `write` or `readwrite` rule matching the
 * topic; a delivery needs a `read` or `readwrite` rule matching the topic; a
 * SUBSCRIBE needs a read rule that covers the whole filter, i.e. matches every
 * topic the filter could bring (`a/#` allows `a/b/+`; `a/+` refuses `a/#`).
 * A `deny` rule that matches (for SUBSCRIBE: covers) wins over any allow,
 * wherever either stands in the file. A subscription that overlaps a deny
 * without being covered by it is granted, and what the deny names is held
 * back at delivery.
 *
 * Reserved topics (`im/`, `$SYS/`) are refused whatever the rules say: the
 * IM layer authorizes those. The one exception is reading `$SYS/` (the
 * broker's status, mqtt/sys-topics.ts): `read` rules naming it grant it, as
 * in Mosquitto (`user monitor` / `topic read $SYS/#`), through canReadSys.
 * Wildcard rules never reach `$` topics [MQTT-4.7.2-1], as in Mosquitto, so
 * `topic readwrite #` leaves `$app/x` shut.
 */
export class Acl {
  readonly source: string
  readonly warnings: readonly string[]
  #open = false
  readonly #sections = new Map<string, RuleSet>()
  readonly #anonymous = new RuleSet()
  /** Patterns without `%u` / `%c`: the same for everyone, compiled once. */
  readonly #shared = new RuleSet()
  readonly #patterns: Pattern[] = []
  /** Whether the client id takes part in the cache key (some pattern uses `%c`). */
  readonly #byClient: boolean
  readonly #cacheSize: number
  readonly #cache = new Map<string, View>()
  /** Views for files without `%u` / `%c`, where only the section matters. */
  readonly #anonymousView: View
  readonly #sectionlessView: View
  readonly #sectionViews = new Map<string, View>()

  constructor (file: AclFile, options: AclOptions = {}) {
    this.source = file.source
    this.warnings = file.warnings
    this.#cacheSize = Math.max(1, options.cacheSize ?? 10_000)
    for (const rule of file.rules) {
      if (rule.kind === 'topic') {
        this.#section(rule.user).add(rule.access, new TopicFilter(rule.filter))
      } else if (PLACEHOLDER.test(rule.filter)) {
        this.#patterns.push({
          access: rule.access,
          filter: rule.filter,
          usesUser: rule.filter.includes('%u'),
          usesClient: rule.filter.includes('%c')
        })
      } else {
        this.#shared.add(rule.access, new TopicFilter(rule.filter))
      }
    }
    this.#byClient = this.#patterns.some((p) => p.usesClient)
    this.#anonymousView = { denyAll: false, sets: [this.#anonymous, this.#shared] }
    this.#sectionlessView = { denyAll: false, sets: [this.#shared] }
    for (const [user, set] of this.#sections) {
      this.#sectionViews.set(user, { denyAll: false, sets: [set, this.#shared] })
    }
  }

  /**
   * Everything but the reserved topics, for everyone: the open broker that
   * runs anonymously without an ACL file.
   */
  static allowAll (): Acl {
    const acl = new Acl({ source: 'allow-all', rules: [], warnings: [] })
    acl.#open = true
    return acl
  }

  canPublish (identity: AclIdentity, topic: string): boolean {
    if (!isTopicName(topic) || isReservedTopic(topic)) return false
    if (this.#open) return true
    return allows(this.#view(identity), topic.split('/'), 'write', false)
  }

  canSubscribe (identity: AclIdentity, filter: string): boolean {
    if (filterProblem(filter) !== null || isReservedFilter(filter)) return false
    if (this.#open) return true
    return allows(this.#view(identity), filter.split('/'), 'read', true)
  }

  canReceive (identity: AclIdentity, topic: string): boolean {
    if (!isTopicName(topic) || isReservedTopic(topic)) return false
    if (this.#open) return true
    return allows(this.#view(identity), topic.split('/'), 'read', false)
  }

  /**
   * Whether a `read` rule (or the read half of `readwrite`) naming `$SYS/`
   * lets `identity` subscribe to a filter there or receive a topic there.
   * The open default (no file) grants nothing under `$SYS/`.
   */
  canReadSys (identity: AclIdentity, topicOrFilter: string, subscribe: boolean): boolean {
    if (this.#open || !isSysTopic(topicOrFilter)) return false
    if (subscribe ? filterProblem(topicOrFilter) !== null : !isTopicName(topicOrFilter)) return false
    return allows(this.#view(identity), topicOrFilter.split('/'), 'read', subscribe)
  }

  #section (user: string | null): RuleSet {
    if (user === null) return this.#anonymous
    let set = this.#sections.get(user)
    if (set === undefined) {
      set = new RuleSet()
      this.#sections.set(user, set)
    }
    return set
  }

  /** The rules that apply to `identity`, with its patterns substituted. */
  #view (identity: AclIdentity): View {
    const { user, clientId } = identity
    if (this.#patterns.length === 0) {
      if (user === null) return this.#anonymousView
      return this.#sectionViews.get(user) ?? this.#sectionlessView
    }
    // Length-prefixed so that no (user, client id) pair can spell another's key.
    const userKey = user === null ? '-' : `${user.length}:${user}`
    const key = this.#byClient ? `${userKey}${clientId}` : userKey
    const cache = this.#cache
    const hit = cache.get(key)
    if (hit !== undefined) {
      cache.delete(key)
      cache.set(key, hit)
      return hit
    }
    const view = this.#compile(user, clientId)
    if (cache.size >= this.#cacheSize) cache.delete(cache.keys().next().value as string)
    cache.set(key, view)
    return view
  }

  #compile (user: string | null, clientId: string): View {
    const own = new RuleSet()
    let denyAll = false
    const userSafe = user !== null && isSafeUser(user)
    const clientSafe = isSafeClientId(clientId)
    for (const pattern of this.#patterns) {
      // As in Mosquitto, a `%u` pattern does not apply to anonymous clients.
      if (pattern.usesUser && user === null) continue
      if ((pattern.usesUser && !userSafe) || (pattern.usesClient && !clientSafe)) {
        // The value could widen the filter: an allow must not match, and a
        // deny cannot know what it was meant to shut, so it shuts everything.
        if (pattern.access === 'deny') denyAll = true
        continue
      }
      // One pass, so a username holding "%c" is not substituted again.
      const filter = pattern.filter.replace(/%[uc]/g, (p) => (p === '%u' ? user as string : clientId))
      own.add(pattern.access, new TopicFilter(filter))
    }
    const base = user === null ? this.#anonymous : (this.#sections.get(user) ?? EMPTY)
    return { denyAll, sets: [base, this.#shared, own] }
  }
}

const PLACEHOLDER = /%[uc]/

interface Pattern {
  readonly access: AclAccess
  readonly filter: string
  readonly usesUser: boolean
  readonly usesClient: boolean
}

/** Compiled rules of one section, one kind of pattern, or one identity's patterns, by access. */
class RuleSet {
  readonly deny: TopicFilter[] = []
  readonly read: TopicFilter[] = []
  readonly write: TopicFilter[] = []

  add (access: AclAccess, filter: TopicFilter): void {
    if (access === 'deny') this.deny.push(filter)
    if (access === 'read' || access === 'readwrite') this.read.push(filter)
    if (access === 'write' || access === 'readwrite') this.write.push(filter)
  }
}

const EMPTY = new RuleSet()

/** The rule sets that apply to one identity; `denyAll` when a deny pattern failed closed. */
interface View {
  readonly denyAll: boolean
  readonly sets: readonly RuleSet[]
}

/** Deny rules first, across every set, so that a deny wins wherever it stands. */
function allows (view: View, levels: string[], access: 'read' | 'write', subscribe: boolean): boolean {
  if (view.denyAll) return false
  for (const set of view.sets) {
    if (subscribe ? anyCovers(set.deny, levels) : anyMatches(set.deny, levels)) return false
  }
  for (const set of view.sets) {
    if (subscribe ? anyCovers(set[access], levels) : anyMatches(set[access], levels)) return true
  }
  return false
}

function anyMatches (filters: readonly TopicFilter[], topic: readonly string[]): boolean {
  for (const filter of filters) if (filter.matches(topic)) return true
  return false
}

function anyCovers (filters: readonly TopicFilter[], filter: readonly string[]): boolean {
  for (const rule of filters) if (rule.covers(filter)) return true
  return false
}

/**
 * A username substituted for `%u` must stay one literal level: `+` or `#`
 * would turn it into a wildcard, `/` would reach into another user's levels
 * (user "alice/x" inside `home/alice/...`), a leading `$` could name a
 * system root, and an empty one names nobody.
 */
function isSafeUser (user: string): boolean {
  return user.length > 0 && !/[+#/\u0000]/.test(user) && user.charCodeAt(0) !== 36
}

/**
 * The same for `%c`, except that `/` is allowed: Hail's client ids are
 * `{user}/{device}`. That widens nothing: client ids are not secrets, any
 * client may claim "dev1" outright rather than "dev1/x" below it, and where
 * users log in, the id is bound to the user.
 */
function isSafeClientId (clientId: string): boolean {
  return clientId.length > 0 && !/[+#\u0000]/.test(clientId) && clientId.charCodeAt(0) !== 36
}
