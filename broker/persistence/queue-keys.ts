// Keys of the outgoing queue's records and indexes (outgoing-queue.ts).
import { clientKey } from './client-key.js'
import type { StoredPacket } from './packet-codec.js'

/** Digits of a queue seq: keys sort in arrival order. */
export const SEQ_DIGITS = 16
const MESSAGE_ID_DIGITS = 5

export function isQoS1Publish (packet: StoredPacket): boolean {
  return (packet.cmd === undefined || packet.cmd === 'publish') && packet.qos === 1
}

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

export function droppedKey (packet: StoredPacket): string {
  return 'b' + String(packet.brokerId) + ':' + String(packet.brokerCounter)
}

export function formatNumber (n: number, digits: number): string {
  return String(n).padStart(digits, '0')
}
