import { Readable } from 'node:stream'
import { claimDelivery } from './delivery-dedupe.js'

/** aedes' persistence as far as this needs it (MqttPersistence lists only what Hail calls itself). */
interface QueuePersistence {
  outgoingStream: (client: { id: string }) => Readable
}

/**
 * A persistent session's queue is sent once per connection (aedes'
 * emptyQueue, after CONNACK), but the connection's subscriptions are live
 * from before its CONNACK: a message published in between (a call's `ended`
 * as a new connection takes a device's session over, say) is queued and
 * delivered live, so aedes sent it twice. The client acknowledged the first
 * copy, which removed it from the queue, and the second copy's messageId
 * update then found nothing: aedes took that as a client error and closed
 * the new connection (issue 17's takeover test, about one run in 15 under
 * load). The queue now hands aedes only packets that were not delivered to
 * this connection already, and claims each one it hands over, so the live
 * copy of a packet read first is dropped (delivery-dedupe.ts).
 */
export function dedupeResumedQueue<P extends object> (persistence: P): P {
  const queue = persistence as unknown as QueuePersistence
  const outgoingStream = (client: { id: string }): Readable =>
    Readable.from(unclaimed(client, queue.outgoingStream(client)), { objectMode: true })
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(persistence, {
    get (target, prop) {
      if (prop === 'outgoingStream') return outgoingStream
      const value = Reflect.get(target, prop, target) as unknown
      if (typeof value !== 'function') return value
      let fn = bound.get(prop)
      if (fn === undefined) bound.set(prop, fn = value.bind(target))
      return fn
    }
  })
}

async function * unclaimed (client: object, queue: Readable): AsyncGenerator<unknown> {
  for await (const packet of queue) {
    if (claimDelivery(client, packet as { brokerId?: string, brokerCounter?: number })) yield packet
  }
}
