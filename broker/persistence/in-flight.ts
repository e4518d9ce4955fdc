import type { StoredPacket } from './packet-codec.js'

/** A QoS 1 publish sent and not yet acknowledged. */
export interface SentPacket {
  /** Where the packet is stored (the queue's seq, or Redis' key of the copy). */
  ref: string
  /** What outgoingClearMessageId hands back: the packet as sent, with its messageId (see copyOf). */
  packet?: StoredPacket
}

interface ClientInFlight {
  byId: Map<number, SentPacket>
  idByRef: Map<string, number>
}

/**
 * Which stored QoS 1 publish each outstanding messageId of a client stands
 * for, in memory only. Writing the messageId into the store on every send
 * cost the offline drain a write per message; it is not needed for safety:
 * a packet stays in the durable queue until its PUBACK clears it, and after
 * a restart (when this map is empty) the queue is sent again with fresh
 * messageIds, which QoS 1 allows. Bounded overall: past `max` entries the
 * oldest is forgotten, and its PUBACK then leaves the packet queued, to be
 * sent again on the next connection (never lost).
 */
export class InFlight {
  readonly #clients = new Map<string, ClientInFlight>()
  /** Insertion order over all clients, for the bound: `client \n messageId`. */
  readonly #order = new Map<string, [string, number]>()
  readonly #max: number

  constructor (max: number) {
    this.#max = max
  }

  /** Records that `ref` was sent to the client as `messageId` (replacing that id's earlier use). */
  set (clientId: string, messageId: number, ref: string, packet?: StoredPacket): void {
    let client = this.#clients.get(clientId)
    if (client === undefined) {
      client = { byId: new Map(), idByRef: new Map() }
      this.#clients.set(clientId, client)
    }
    const previousId = client.idByRef.get(ref)
    if (previousId !== undefined && previousId !== messageId) this.#remove(clientId, client, previousId)
    this.#remove(clientId, client, messageId)
    client.byId.set(messageId, { ref, packet })
    client.idByRef.set(ref, messageId)
    this.#order.set(`${clientId}\n${messageId}`, [clientId, messageId])
    if (this.#order.size > this.#max) {
      const [oldClient, oldId] = this.#order.values().next().value as [string, number]
      const old = this.#clients.get(oldClient)
      if (old !== undefined) this.#remove(oldClient, old, oldId)
    }
  }

  /** The messageId `ref` was last sent with, if it is outstanding. */
  idOf (clientId: string, ref: string): number | undefined {
    return this.#clients.get(clientId)?.idByRef.get(ref)
  }

  /** Forgets and returns what `messageId` stood for. */
  take (clientId: string, messageId: number): SentPacket | undefined {
    const client = this.#clients.get(clientId)
    const sent = client?.byId.get(messageId)
    if (client === undefined || sent === undefined) return undefined
    this.#remove(clientId, client, messageId)
    return sent
  }

  /** Forgets everything about the client (its queue was wiped). */
  forget (clientId: string): void {
    const client = this.#clients.get(clientId)
    if (client === undefined) return
    for (const id of client.byId.keys()) this.#order.delete(`${clientId}\n${id}`)
    this.#clients.delete(clientId)
  }

  /** The packet as sent, without runtime attachments (aedes' writeCallback) or its wire length. */
  static copyOf (packet: object): StoredPacket {
    const copy: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(packet)) {
      if (typeof value !== 'function' && key !== 'length') copy[key] = value
    }
    return copy as StoredPacket
  }

  #remove (clientId: string, client: ClientInFlight, messageId: number): void {
    const sent = client.byId.get(messageId)
    if (sent === undefined) return
    client.byId.delete(messageId)
    if (client.idByRef.get(sent.ref) === messageId) client.idByRef.delete(sent.ref)
    this.#order.delete(`${clientId}\n${messageId}`)
    if (client.byId.size === 0) this.#clients.delete(clientId)
  }
}
