/**
 * Packets OutgoingQueue dropped (queue full) for clients that were connected:
 * aedes still sends those live and then updates and clears them, which must
 * not fail (a failed update disconnects the client). Entries are
 * `b<brokerId>:<counter>` until the packet gets its messageId, then
 * `m<messageId>`. At most `max` per client: one that never acknowledges
 * must not grow this forever.
 */
export class DroppedPackets {
  readonly #max: number
  readonly #byClient = new Map<string, Set<string>>()

  constructor (max: number) {
    this.#max = max
  }

  remember (clientId: string, entry: string): void {
    let dropped = this.#byClient.get(clientId)
    if (dropped === undefined) {
      dropped = new Set()
      this.#byClient.set(clientId, dropped)
    }
    dropped.add(entry)
    if (dropped.size > this.#max) dropped.delete(dropped.values().next().value as string)
  }

  /** Forgets the entry; whether it was there. */
  forget (clientId: string, entry: string): boolean {
    const dropped = this.#byClient.get(clientId)
    if (dropped === undefined || !dropped.delete(entry)) return false
    if (dropped.size === 0) this.#byClient.delete(clientId)
    return true
  }

  has (clientId: string, entry?: string): boolean {
    const dropped = this.#byClient.get(clientId)
    return dropped !== undefined && (entry === undefined || dropped.has(entry))
  }

  forgetClient (clientId: string): void {
    this.#byClient.delete(clientId)
  }
}
