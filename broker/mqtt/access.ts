import type { Client } from 'aedes'
import { isReservedFilter, isReservedTopic, isSysStatusTopic, isSysTopic } from './reserved-topics.js'

/** Who a connected client is: its user (null when anonymous) and client id. */
export interface Identity {
  readonly user: string | null
  readonly clientId: string
}

/**
 * Decides who may publish, subscribe and receive on a set of topics. The ACL
 * file is one authority (plain topics); the IM layer brings another for the
 * topics Hail reserves (`im/`, `$SYS/`).
 */
export interface TopicAuthority {
  canPublish: (identity: Identity, topic: string) => boolean
  canSubscribe: (identity: Identity, filter: string) => boolean
  canReceive: (identity: Identity, topic: string) => boolean
  /**
   * Whether the rules let `identity` read `$SYS/` topics: subscribe to a
   * filter under it (`subscribe`) or receive a topic. Only the ACL file has
   * such rules; an authority without this method grants nothing there.
   */
  canReadSys?: (identity: Identity, topicOrFilter: string, subscribe: boolean) => boolean
}

/** Nobody may use reserved topics until a layer that owns them says otherwise. */
export const denyAll: TopicAuthority = {
  canPublish: () => false,
  canSubscribe: () => false,
  canReceive: () => false
}

/**
 * Routes every check to the authority that owns the topic, for the identity
 * bound to the client at CONNECT. A client with no identity (not yet
 * authenticated) may do nothing.
 */
export class Access {
  readonly #identities = new WeakMap<Client, Identity>()
  /** Connected clients of each user, for closing them all (a deleted user). */
  readonly #connected = new Map<string, Set<Client>>()
  #plain: TopicAuthority
  #reserved: TopicAuthority
  /** Whether a user is an admin, who reads `$SYS/` whatever the rules say (mqtt/sys-admins.ts). */
  #isAdmin: (user: string) => boolean = () => false

  constructor (plain: TopicAuthority, reserved: TopicAuthority = denyAll) {
    this.#plain = plain
    this.#reserved = reserved
  }

  /** The ACL file (or the open / closed default) rules plain topics. */
  setPlainAuthority (authority: TopicAuthority): void {
    this.#plain = authority
  }

  /** The IM layer installs its authority over reserved topics. */
  setReservedAuthority (authority: TopicAuthority): void {
    this.#reserved = authority
  }

  /** Who counts as an admin when a client reads `$SYS/`. */
  setAdminCheck (isAdmin: (user: string) => boolean): void {
    this.#isAdmin = isAdmin
  }

  bind (client: Client, identity: Identity): void {
    this.#identities.set(client, identity)
  }

  identity (client: Client): Identity | undefined {
    return this.#identities.get(client)
  }

  /** aedes told that `client` finished CONNECT. */
  connected (client: Client): void {
    const user = this.#identities.get(client)?.user
    if (user === null || user === undefined) return
    let clients = this.#connected.get(user)
    if (clients === undefined) this.#connected.set(user, clients = new Set())
    clients.add(client)
  }

  /** aedes told that `client` is gone. */
  disconnected (client: Client): void {
    const user = this.#identities.get(client)?.user
    if (user === null || user === undefined) return
    const clients = this.#connected.get(user)
    if (clients?.delete(client) === true && clients.size === 0) this.#connected.delete(user)
  }

  /** The connected clients of `user`. */
  clientsOf (user: string): Client[] {
    return [...this.#connected.get(user) ?? []]
  }

  canPublish (client: Client, topic: string): boolean {
    const identity = this.#identities.get(client)
    if (identity === undefined) return false
    // Only the broker publishes its status: no rule and no flag lets a client write under $SYS/.
    return isReservedTopic(topic)
      ? !isSysTopic(topic) && this.#reserved.canPublish(identity, topic)
      : this.#plain.canPublish(identity, topic)
  }

  canSubscribe (client: Client, filter: string): boolean {
    const identity = this.#identities.get(client)
    if (identity === undefined) return false
    if (isSysTopic(filter)) return this.#readsSys(identity, filter, true)
    return isReservedFilter(filter)
      ? this.#reserved.canSubscribe(identity, filter)
      : this.#plain.canSubscribe(identity, filter)
  }

  canReceive (client: Client, topic: string): boolean {
    const identity = this.#identities.get(client)
    if (identity === undefined) return false
    if (!isReservedTopic(topic)) return this.#plain.canReceive(identity, topic)
    // aedes' own `$SYS/{broker id}/...` announcements (heartbeats, client ids) stay inside.
    if (isSysTopic(topic)) return isSysStatusTopic(topic) && this.#readsSys(identity, topic, false)
    return this.#reserved.canReceive(identity, topic)
  }

  #readsSys (identity: Identity, topic: string, subscribe: boolean): boolean {
    if (identity.user !== null && this.#isAdmin(identity.user)) return true
    return this.#plain.canReadSys?.(identity, topic, subscribe) === true
  }
}
