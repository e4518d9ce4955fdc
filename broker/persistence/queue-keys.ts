import { clientKey } from './client-key.js'
import type { StoredPacket } from './packet-codec.js'

// The keys of OutgoingQueue's sublevels: records `<client>:<seq>`, the
// by-broker index `<client>:<brokerId>:<counter>` and the messageId index
// `<client>:<messageId>`.

export const SEQ_DIGITS = 16
const MESSAGE_ID_DIGITS = 5

export function brokerKey (clientId: string, brokerId: string, brokerCounter: unknown): string {
  return clientKey(clientId) + clientKey(brokerId) + formatNumber(Number(brokerCounter), SEQ_DIGITS)
}

/** The by-broker index key of a stored publish, if it has one. */
export function brokerKeyOf (clientId: string, packet: StoredPacket): string | undefined {
  if (packet.cmd !== undefined && packet.cmd !== 'publish') return undefined
  if (typeof packet.brokerId !== 'string' || packet.brokerId === '') return undefined
  return brokerKey(clientId, packet.brokerId, packet.brokerCounter)
}

export function messageIdKey (clientId: string, messageId: number): string {
  return clientKey(clientId) + formatNumber(messageId, MESSAGE_ID_DIGITS)
}

/** How OutgoingQueue remembers a dropped packet before it has a messageId. */
export function droppedKey (packet: StoredPacket): string {
  return 'b' + String(packet.brokerId) + ':' + String(packet.brokerCounter)
}

export function formatNumber (n: number, digits: number): string {
  return String(n).padStart(digits, '0')
}
