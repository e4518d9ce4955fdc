import type { Client } from 'aedes'

/** How many recent deliveries per client are remembered; overlapping copies come within one emit. */
const WINDOW = 1024
/** Live copies held per connection while its stored queue is sent; more wait in the store for the next connection. */
const MAX_DEFERRED = 10_000

type Deliver = (packet: { brokerId?: string | null, brokerCounter?: number, qos?: number, retain?: boolean }, cb: () => void) => void
interface ClientInternals { id?: string | null, clean?: boolean, duplicates: Record<string, number>, deliver0: Deliver, deliverQoS: Deliver }

/** aedes' per-client map of the highest counter delivered, neutralised: always 0, writes ignored (it stores nothing, so every client shares it). */
const NO_HIGH_WATER_MARK = new Proxy(Object.create(null) as Record<string, number>, {
  get: () => 0,
  set: () => true
})

/** The part of DrainHandovers (persistence/drain-handover.ts) the live path asks. */
export interface LiveHandovers {
  takeLive: (clientId: string, client: object, key: string) => boolean
}

/**
 * aedes 1.2 delivers a message once to a client whose subscriptions overlap,
 * by keeping, per client, the highest broker counter it delivered and
 * dropping anything lower (lib/client.js, dedupe). But counters are taken
 * when a publish starts and packets are emitted when its stores are done,
 * so a later publish on a cheaper path (QoS 0, no persistent subscriber)
 * overtakes an earlier one, and the earlier one is then silently dropped
 * for every client that already got the later one: a lost QoS 1 message.
 *
 * This replaces that high-water mark with the set of recently delivered
 * (broker, counter) pairs: a copy is dropped only when that very message was
 * delivered already. aedes' own check is neutralised (its map always reads 0).
 *
 * With `handovers` (a persistence that tracks drains), a persistent
 * session's QoS > 0 copy is also held back while its stored queue is being
 * drained, when the drain sends it (see DrainHandovers): a reconnect during
 * a drain then gets each message once, in order.
 */
export function exactDedupe (client: Client, handovers?: LiveHandovers): void {
  const internals = client as unknown as ClientInternals
  internals.duplicates = NO_HIGH_WATER_MARK
  const state = new Dedupe(client, handovers)
  internals.deliver0 = state.wrap(internals.deliver0)
  internals.deliverQoS = state.wrap(internals.deliverQoS)
  if (handovers === undefined) return
  state.deferred = []
  state.deliverQoS = internals.deliverQoS
  client.once('connected', () => { state.flush() })
}

/** One client's dedupe state: a single object, so an idle session holds two thin closures and this. */
class Dedupe {
  /** Recently delivered (broker, counter) keys; made on the first delivery. */
  seen: Set<string> | undefined
  /** Packets checked already: aedes' deliverQoS hands a QoS 0 packet on to deliver0. */
  checked: WeakSet<object> | undefined
  /** Live copies held until aedes has sent the stored queue (its CONNECT chain ends with it). */
  deferred: Array<Parameters<Deliver>[0]> | undefined
  deliverQoS: Deliver | undefined

  constructor (readonly client: Client, readonly handovers: LiveHandovers | undefined) {}

  wrap (deliver: Deliver): Deliver {
    const state = this
    return function deliverOnce (packet, cb) { state.deliver(deliver, packet, cb) }
  }

  claim (key: string): boolean {
    const seen = (this.seen ??= new Set())
    if (seen.has(key)) return false
    seen.add(key)
    if (seen.size > WINDOW) seen.delete(seen.values().next().value as string)
    return true
  }

  deliver (deliver: Deliver, packet: Parameters<Deliver>[0], cb: () => void): void {
    if (this.checked?.has(packet) === true) return deliver(packet, cb)
    if (packet.brokerId) {
      const key = `${packet.brokerId}:${packet.brokerCounter ?? 0}`
      const internals = this.client as unknown as ClientInternals
      const handovers = this.handovers
      const id = internals.id
      const handedOver = handovers !== undefined && internals.clean === false && typeof id === 'string' && (packet.qos ?? 0) > 0 && packet.retain !== true
      // asked before claiming: a copy the drain sends must not count as delivered here
      if ((handedOver && !handovers.takeLive(id, this.client, key)) || !this.claim(key)) {
        setImmediate(cb)
        return
      }
      (this.checked ??= new WeakSet()).add(packet)
      // after the stored queue, which aedes is still sending; the emitter is not kept
      // waiting (it serves everyone), the copy is stored. Nothing is held once closed.
      if (handedOver && this.deferred !== undefined && (this.client as { closed?: boolean }).closed !== true) {
        if (this.deferred.length < MAX_DEFERRED) this.deferred.push(packet)
        setImmediate(cb)
        return
      }
    }
    deliver(packet, cb)
  }

  flush (): void {
    const held = this.deferred ?? []
    this.deferred = undefined
    const deliverQoS = this.deliverQoS as Deliver
    for (const packet of held) deliverQoS(packet, noop)
  }
}

function noop (): void {}
