import type { Readable } from 'node:stream'

/** Anything with a client id: an aedes Client or `{ id }`. */
export interface ClientRef {
  id: string
}

/** A packet as a persistence hands it back. */
export interface PersistedPacket {
  topic: string
  payload: Buffer | string
  messageId?: number
  qos?: number
  [key: string]: unknown
}

/**
 * The MQTT persistence aedes runs on: aedes 1.2's async persistence
 * interface, which aedes-persistence's abstract suite checks for every
 * implementation (LevelPersistence on the data directory's database,
 * RedisPersistence on a shared Redis). Listed here are the members Hail
 * itself calls besides handing the persistence to aedes.
 */
export interface MqttPersistence {
  /** aedes calls it once it listens. */
  setup: (broker: { id: string }) => Promise<void>
  /** Retained messages whose topics match `pattern` (an MQTT filter). */
  createRetainedStream: (pattern: string) => Readable | AsyncIterable<PersistedPacket>
  /** A stored incoming QoS 2 packet (a resend's original); rejects when none is stored. */
  incomingGetPacket: (client: ClientRef, packet: { messageId?: number }) => Promise<unknown>
  /**
   * Only where other nodes share the queues (RedisPersistence): `hook` is
   * awaited before each drain reads a client's queue, so the IM engine learns
   * of recalls made elsewhere first (im/recalled-messages.ts). A single
   * node's engine knows of every recall already.
   */
  beforeDrain?: (hook: () => Promise<void>) => void
  /** Waits for writes in flight and releases what it holds (not the database it was given). */
  destroy: () => Promise<void>
}
