import type { CursorStore } from './cursor-store.js'
import type { Logger } from './logger.js'
import type { IClientOptions } from 'mqtt'
import type { Transport } from './transport.js'

/** mqtt.js options the SDK leaves to the caller: TLS (`ca`, `rejectUnauthorized`), `wsOptions`, `keepalive` …; it sets the session's own (client id, credentials, clean, protocol). */
export type MqttOptions = Omit<IClientOptions, 'clientId' | 'username' | 'password' | 'clean' | 'protocolVersion' | 'resubscribe' | 'manualConnect'>

export interface HailClientOptions {
  /** `mqtt://host:1883`, `mqtts://…`, `ws://host:8080/mqtt`, `wss://…`; not needed with `transport`. */
  url?: string
  user: string
  /** A stable name per device: with `clean: false` the broker keeps its queue while it is offline. */
  device: string
  password?: string
  /** A token from `hail token`, sent as the password. */
  token?: string
  /** Default false: a persistent session, so messages wait for the device while it is offline. */
  clean?: boolean
  /** Where cursors live; in memory by default. */
  store?: CursorStore
  /** ms to wait for the server's reply to a send or a request; default 10 000. */
  timeout?: number
  /** ms between reconnect attempts; default 1000. */
  reconnectPeriod?: number
  logger?: Logger
  /** Further mqtt.js options: TLS `ca`, `wsOptions`, `keepalive` … */
  mqtt?: MqttOptions
  /** Another transport than mqtt.js (tests of the SDK's logic use a fake). */
  transport?: Transport
}

export interface SendOptions {
  /** The message's idempotency key; a resend with the same cid is stored once. Generated when absent. */
  cid?: string
  timeout?: number
}

/** The server's `sent` reply: where the message landed in the conversation. */
export interface SendResult {
  conv: string
  seq: number
  id: string
  ts: number
  cid: string
  /** True when this cid was stored before: seq, id and ts are the first copy's. */
  duplicate: boolean
}

export interface RequestOptions {
  timeout?: number
}
