/**
 * What the engine knows about the payloads it encoded for message
 * deliveries, by the Buffer itself (parse once, carry types): aedes hands
 * the same Buffer to the outgoing queue and back with the device's PUBACK,
 * so the delivered receipt (im-layer.ts, `acknowledged`) and the choice of
 * the in-memory queue (live-delivery.ts) read the conversation, seq and
 * author from here instead of parsing or sniffing the server's own JSON.
 * Only packets read back from the durable queue (other Buffers) are parsed.
 */
export interface MessagePayload {
  readonly conv: string
  readonly seq: number
  readonly from: string
}

const payloads = new WeakMap<Buffer, MessagePayload>()

/** Record what a message event's encoded payload carries (Fanout, once per message). */
export function rememberMessage (payload: Buffer, message: MessagePayload): void {
  payloads.set(payload, message)
}

/** What a payload encoded by Fanout carries; undefined for any other Buffer. */
export function messageOf (payload: unknown): MessagePayload | undefined {
  return Buffer.isBuffer(payload) ? payloads.get(payload) : undefined
}
