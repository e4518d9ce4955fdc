// aedes-persistence-redis ships no typings; this covers the class Hail's
// RedisPersistence extends (the async persistence interface of aedes 1.2).
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  import type { Redis } from 'ioredis'

  interface AsyncRedisPersistenceOptions {
    /** A connection to use (it is disconnected by destroy()). */
    conn?: Redis
    maxSessionDelivery?: number
  }

  class AsyncRedisPersistence {
    constructor (opts?: AsyncRedisPersistenceOptions)
    readonly broker: { id: string } | undefined
    setup (broker: object): Promise<void>
    addSubscriptions (client: { id: string }, subs: Array<{ topic: string, qos: number }>): Promise<void>
    removeSubscriptions (client: { id: string }, subs: string[]): Promise<void>
    subscriptionsByClient (client: { id: string }): Promise<Array<{ topic: string, qos: number }>>
    outgoingUpdate (client: { id: string }, packet: any): Promise<void>
    outgoingClearMessageId (client: { id: string }, packet: { messageId?: number }): Promise<any>
    outgoingEnqueueCombi (subs: Array<{ clientId: string }>, packet: any): Promise<void>
    outgoingStream (client: { id: string }): AsyncIterable<any> | NodeJS.ReadableStream
    putWill (client: { id: string }, packet: any): Promise<void>
    delWill (client: { id: string, brokerId?: string }): Promise<any>
    createRetainedStreamCombi (patterns: string[]): AsyncIterable<any>
    createRetainedStream (pattern: string): AsyncIterable<any>
    incomingGetPacket (client: { id: string }, packet: { messageId?: number }): Promise<any>
    destroy (): Promise<void>
  }

  export = AsyncRedisPersistence
}

declare module 'msgpack-lite' {
  export function encode (value: unknown): Buffer
  export function decode (buffer: Buffer): any
}
