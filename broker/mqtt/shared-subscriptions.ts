import type { Aedes } from 'aedes'
import type { Logger } from 'pino'

/**
 * Shared subscriptions, `$share/{group}/{filter}` (MQTT 5 §4.8.2; mosquitto and EMQX honour
 * them for 3.1.1 clients too): each message matching `filter` goes to one member of the
 * group, in turn, instead of to all. aedes 1.2 has none: it grants the subscription and
 * stores it under its literal topic, which no publish ever matches. Hail keeps that (SUBACK,
 * session storage and UNSUBSCRIBE stay aedes' own) and dispatches beside it: one emitter
 * subscription per (group, filter) on this node, and each message handed to one member's
 * own aedes delivery function, the one aedes made for the `$share/…` subscription.
 *
 * Delivery goes to connected members only. A member with a persistent session gets the
 * message in its durable queue first (as every QoS 1 delivery), so if it drops before its
 * PUBACK it has the message again when it returns; a clean-session member that drops loses
 * what it had in flight. When no member is connected the message goes to nobody, as with
 * any subscription nobody holds.
 *
 * With several nodes (Redis), every node with members hears each message; `cluster` picks
 * the one node that delivers it (the same choice on every node), and that node one of its
 * members.
 */

const PREFIX = '$share/'
const SEP = '\u0000'

/** The parts of a shared subscription's topic, or null when malformed; undefined when not shared. */
export function parseShare (topic: string): { group: string, filter: string } | null | undefined {
  if (!topic.startsWith(PREFIX)) return undefined
  const end = topic.indexOf('/', PREFIX.length)
  if (end === -1) return null
  const group = topic.slice(PREFIX.length, end)
  const filter = topic.slice(end + 1)
  // The group is one level without wildcards; the filter a whole filter of its own.
  if (group === '' || /[+#]/.test(group) || filter === '') return null
  return { group, filter }
}

/** Which node of several delivers a message of a group (RedisShareCluster); absent on one node. */
export interface ShareCluster {
  /** This node now has `count` members of `key` (0: none left). */
  members: (key: string, count: number) => void
  /** Whether this node delivers `packet` for `key` (the same answer on every node). */
  mine: (key: string, packet: { brokerId?: string, brokerCounter?: number, topic: string }) => boolean
  close: () => Promise<void>
}

interface DeliveryPacket {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  retain: boolean
  brokerId?: string
  brokerCounter?: number
  [key: string]: unknown
}
type Deliver = (packet: DeliveryPacket, done: (err?: Error | null) => void) => void
type Listener = (packet: DeliveryPacket, done: () => void) => void

/** What aedes 1.2 keeps on a client and its broker that this uses (pinned; tripwire in the test). */
interface AedesClientInternals {
  id: string
  clean: boolean
  closed: boolean
  subscriptions: Record<string, { qos: number, func: Deliver } | undefined>
}
interface AedesInternals {
  mq: {
    on: (topic: string, listener: Listener, done?: () => void) => void
    removeListener: (topic: string, listener: Listener, done?: () => void) => void
  }
  persistence: { outgoingEnqueueCombi: (subs: Array<{ clientId: string, topic: string, qos: number }>, packet: DeliveryPacket) => Promise<void> }
}

interface Member { client: AedesClientInternals, topic: string, qos: number }

interface Group {
  readonly key: string
  readonly filter: string
  readonly members: Member[]
  next: number
  readonly listener: Listener
}

export class SharedSubscriptions {
  readonly #aedes: AedesInternals
  readonly #log: Logger
  readonly #cluster: ShareCluster | undefined
  readonly #groups = new Map<string, Group>()
  /** Shared topics each client is a member through. */
  readonly #byClient = new Map<AedesClientInternals, Set<string>>()

  constructor (aedes: Aedes, options: { logger: Logger, cluster?: ShareCluster }) {
    this.#aedes = aedes as unknown as AedesInternals
    this.#log = options.logger
    this.#cluster = options.cluster
    // A new subscription; one restored with a persistent session (aedes emits nothing then);
    // an UNSUBSCRIBE; a client gone.
    aedes.on('subscribe', (subs, client) => {
      for (const sub of subs) if ((sub.qos as number) !== 128 && parseShare(sub.topic)) this.#join(client as unknown as AedesClientInternals, sub.topic)
    })
    aedes.on('clientReady', (client) => {
      const c = client as unknown as AedesClientInternals
      for (const topic of Object.keys(c.subscriptions)) if (parseShare(topic)) this.#join(c, topic)
    })
    aedes.on('unsubscribe', (topics, client) => {
      for (const topic of topics) if (parseShare(topic)) this.#leave(client as unknown as AedesClientInternals, topic)
    })
    aedes.on('clientDisconnect', (client) => { this.#leaveAll(client as unknown as AedesClientInternals) })
  }

  /** Members on this node, per `$share/{group}/{filter}` (tests, the dashboard). */
  get groups (): Map<string, number> {
    return new Map([...this.#groups.values()].map((g) => [g.key.replace(SEP, '/'), g.members.length]))
  }

  #join (client: AedesClientInternals, topic: string): void {
    const parsed = parseShare(topic)
    const sub = client.subscriptions[topic]
    if (!parsed || sub === undefined || client.closed) return
    const key = parsed.group + SEP + parsed.filter
    let group = this.#groups.get(key)
    if (group === undefined) {
      const made: Group = { key, filter: parsed.filter, members: [], next: 0, listener: (packet, done) => { this.#dispatch(made, packet, done) } }
      group = made
      this.#groups.set(key, group)
      this.#aedes.mq.on(parsed.filter, group.listener)
    }
    const member = group.members.find((m) => m.client === client)
    if (member !== undefined) member.qos = sub.qos
    else group.members.push({ client, topic, qos: sub.qos })
    let mine = this.#byClient.get(client)
    if (mine === undefined) this.#byClient.set(client, mine = new Set())
    mine.add(topic)
    this.#cluster?.members(key, group.members.length)
  }

  #leave (client: AedesClientInternals, topic: string): void {
    const parsed = parseShare(topic)
    if (!parsed) return
    const key = parsed.group + SEP + parsed.filter
    this.#byClient.get(client)?.delete(topic)
    const group = this.#groups.get(key)
    if (group === undefined) return
    const i = group.members.findIndex((m) => m.client === client)
    if (i === -1) return
    group.members.splice(i, 1)
    if (group.next > i) group.next--
    this.#cluster?.members(key, group.members.length)
    if (group.members.length === 0) {
      this.#groups.delete(key)
      this.#aedes.mq.removeListener(group.filter, group.listener)
    }
  }

  #leaveAll (client: AedesClientInternals): void {
    const topics = this.#byClient.get(client)
    if (topics === undefined) return
    this.#byClient.delete(client)
    for (const topic of topics) this.#leave(client, topic)
  }

  #dispatch (group: Group, packet: DeliveryPacket, done: () => void): void {
    // A filter starting with a wildcard never matches a `$` topic [MQTT-4.7.2-1].
    const first = group.filter.charCodeAt(0)
    if ((first === 43 || first === 35) && packet.topic.charCodeAt(0) === 36) return done()
    if (this.#cluster !== undefined && !this.#cluster.mine(group.key, packet)) return done()
    // Round robin over the members still connected.
    const n = group.members.length
    for (let tried = 0; tried < n; tried++) {
      const member = group.members[group.next % n]!
      group.next = (group.next + 1) % n
      const sub = member.client.subscriptions[member.topic]
      if (member.client.closed || sub === undefined) continue
      this.#deliver(member, sub.func, packet).then(done, (err: unknown) => {
        this.#log.warn({ err, clientId: member.client.id, topic: packet.topic }, 'shared subscription: delivery failed')
        done()
      })
      return
    }
    done()
  }

  async #deliver (member: Member, deliver: Deliver, packet: DeliveryPacket): Promise<void> {
    const qos = Math.min(packet.qos, member.qos) as 0 | 1 | 2
    // The message as this member takes it: its granted QoS, the rest untouched.
    const copy: DeliveryPacket = { ...packet, qos }
    if (qos > 0 && !member.client.clean) {
      // As aedes does for every QoS > 0 delivery to a persistent session: in its durable
      // queue first, so a drop before the PUBACK is not a loss.
      await this.#aedes.persistence.outgoingEnqueueCombi([{ clientId: member.client.id, topic: member.topic, qos }], copy)
    }
    await new Promise<void>((resolve, reject) => deliver(copy, (err) => err ? reject(err) : resolve()))
  }

  /** Stop dispatching (the broker closes). */
  async close (): Promise<void> {
    for (const group of this.#groups.values()) this.#aedes.mq.removeListener(group.filter, group.listener)
    this.#groups.clear()
    this.#byClient.clear()
    await this.#cluster?.close()
  }
}
