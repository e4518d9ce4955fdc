import { clientKey } from './client-key.js'
import type { StoredPacket } from './packet-codec.js'

// The keys of OutgoingQueue's sublevels: records `<client>:<seq>`, the
// by-broker index `<client>:<brokerId>:<counter>` and the messageId index
// `<client>:<messageId>`.

export const SEQ_DIGITS = 16
const MESSAGE_ID_DIGITS = 5
/** Escaped ids remembered: a drain builds several keys per packet from the same two ids. */
const MAX_PREFIXES = 1024
const prefixes = new Map<string, string>()

/** clientKey(id), remembered for the ids used lately (its escape is a regex replace). */
export function idKey (id: string): string {
  let key = prefixes.get(id)
  if (key === undefined) {
    if (prefixes.size >= MAX_PREFIXES) prefixes.clear()
    key = clientKey(id)
    prefixes.set(id, key)
  }
  return key
}

/** The key of the client's record `seq`. */
export function recordKey (clientId: string, seq: string): string {
  return idKey(clientId) + seq
}

export function brokerKey (clientId: string, brokerId: string, brokerCounter: unknown): string {
  return idKey(clientId) + idKey(brokerId) + formatNumber(Number(brokerCounter), SEQ_DIGITS)
}

/** The by-broker index key of a stored publish, if it has one. */
export function brokerKeyOf (clientId: string, packet: StoredPacket): string | undefined {
  if (packet.cmd !== undefined && packet.cmd !== 'publish') return undefined
  if (typeof packet.brokerId !== 'string' || packet.brokerId === '') return undefined
  return brokerKey(clientId, packet.brokerId, packet.brokerCounter)
}

export function messageIdKey (clientId: string, messageId: number): string {
  return idKey(clientId) + formatNumber(messageId, MESSAGE_ID_DIGITS)
}

/** How OutgoingQueue remembers a dropped packet before it has a messageId. */
export function droppedKey (packet: StoredPacket): string {
  return 'b' + String(packet.brokerId) + ':' + String(packet.brokerCounter)
}

export function formatNumber (n: number, digits: number): string {
  return String(n).padStart(digits, '0')
}
