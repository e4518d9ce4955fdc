import type { Aedes } from 'aedes'
import { PROTOCOL_VERSION, type ServerEvent } from '../../protocol/index.js'

type EventBody = ServerEvent extends infer E ? E extends unknown ? Omit<E, 'v'> : never : never

/**
 * The engine's only way to speak: server events as JSON through aedes, so
 * they take the broker's path (persistent sessions queue them, delivery is
 * authorized per subscriber, acknowledgements raise 'ack').
 */
export class Publisher {
  #aedes: Aedes | undefined

  /** The engine is built before aedes (aedes' hooks call it), so aedes comes later. */
  attach (aedes: Aedes): void {
    this.#aedes = aedes
  }

  /** Serialise once; callers fanning one event out to many topics pass the same bytes. */
  static encode (event: EventBody): Buffer {
    return Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, ...event }))
  }

  send (topic: string, payload: Buffer, qos: 0 | 1 = 1, retain = false): Promise<void> {
    const aedes = this.#aedes
    if (aedes === undefined) return Promise.reject(new Error('the publisher is not attached to a broker'))
    return new Promise((resolve, reject) => {
      aedes.publish({ cmd: 'publish', topic, payload, qos, retain, dup: false }, (err?: Error) => err ? reject(err) : resolve())
    })
  }

  event (topic: string, event: EventBody, qos: 0 | 1 = 1, retain = false): Promise<void> {
    return this.send(topic, Publisher.encode(event), qos, retain)
  }
}

export type { EventBody }
