import type { StoredPacket } from '../persistence/packet-codec.js'
import { PROTOCOL_VERSION } from '../../protocol/index.js'
import { messageOf } from './message-payloads.js'

const INBOX = 'im/inbox/'
/** How Publisher.encode() starts a message event: `{"v":2,"type":"message",...`. */
const MESSAGE_PREFIX = Buffer.from(`{"v":${PROTOCOL_VERSION},"type":"message",`)

/**
 * Whether a packet on `im/inbox/{user}/{conv}` is one whose loss in a crash
 * the protocol repairs by itself (docs/protocol.md, "Order, gaps and sync"),
 * so a connected device's copy needs no durable queue write
 * (persistence/live-outgoing.ts):
 * - a message: the conversation's log is its durable copy, and devices sync
 *   every conversation after each reconnect;
 * - a receipt about the inbox's own user: `conversations`, listed after each
 *   reconnect, returns the user's own `read` and `delivered`.
 * Receipts about other users, conversation events and replies keep the
 * stored path: nothing else would bring them back.
 */
export function isLiveImDelivery (packet: StoredPacket): boolean {
  const { topic, payload } = packet
  if (typeof topic !== 'string' || !topic.startsWith(INBOX) || !Buffer.isBuffer(payload)) return false
  // im/inbox/{user}/{conv}: the per-user topic carries conversation events
  const slash = topic.indexOf('/', INBOX.length)
  if (slash < 0) return false
  // a payload Fanout encoded says what it is; one read back from the store is sniffed
  if (messageOf(payload) !== undefined || startsWith(payload, MESSAGE_PREFIX)) return true
  // user names and conversation ids need no JSON escaping, so the bytes are known
  const user = topic.slice(INBOX.length, slash)
  const conv = topic.slice(slash + 1)
  return startsWith(payload, `{"v":${PROTOCOL_VERSION},"type":"receipt","conv":${JSON.stringify(conv)},"user":${JSON.stringify(user)},`)
}

function startsWith (payload: Buffer, prefix: Buffer | string): boolean {
  const bytes = typeof prefix === 'string' ? Buffer.from(prefix) : prefix
  return payload.length > bytes.length && payload.subarray(0, bytes.length).equals(bytes)
}
