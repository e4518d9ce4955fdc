import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { HailClientError } from './errors.js'
import { TypedEmitter } from './typed-emitter.js'
import type { Transport, TransportEvents } from './transport.js'
import type { HailClientOptions, MqttOptions } from './options.js'

export interface MqttTransportOptions {
  /** `mqtt://`, `mqtts://`, `ws://…/mqtt`, `wss://…/mqtt` */
  url: string
  clientId: string
  username?: string
  password?: string
  clean: boolean
  /** ms between reconnect attempts; default 1000. */
  reconnectPeriod?: number
  mqtt?: MqttOptions
}

/** CONNACK return codes of MQTT 3.1.1 §3.2.2.3 that mean "not you". */
const REFUSED_IDENTITY = new Set([2, 4, 5])
/** CONNACK 3: the server cannot serve now; try again later. */
const SERVER_UNAVAILABLE = 3

/** `ms` ± 25 %, at least 1 ms (0 stays 0: no reconnecting). */
function jittered (ms: number): number {
  return ms <= 0 ? ms : Math.max(1, Math.round(ms * (0.75 + Math.random() * 0.5)))
}

/** Transport over mqtt.js, which runs in Node and, over WebSocket, in browsers. */
export class MqttTransport extends TypedEmitter<TransportEvents> implements Transport {
  readonly #options: MqttTransportOptions
  #client: MqttClient | undefined
  /** close() was called: a publish failed from now on is not handed to mqtt.js again. */
  #closing = false
  #abortOpen: (() => void) | undefined

  constructor (options: MqttTransportOptions) {
    super()
    this.#options = options
  }

  open (): Promise<{ sessionPresent: boolean }> {
    if (this.#client !== undefined) return Promise.reject(new HailClientError('HAIL_ERR_CONNECT', 'the transport is already open'))
    const o = this.#options
    const client = mqtt.connect(o.url, {
      ...o.mqtt,
      clientId: o.clientId,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      clean: o.clean,
      protocolVersion: 4,
      // The client subscribes again itself after each CONNACK.
      resubscribe: false,
      // Jittered, so devices cut off together (a broker or store restart) do not come back in
      // lockstep.
      reconnectPeriod: jittered(o.reconnectPeriod ?? 1000),
      // mqtt.js stops for good on any refusal otherwise; "server unavailable" (3) is temporary.
      // Refusals of the identity turn this off again below: they need new credentials.
      reconnectOnConnackError: true
    })
    this.#client = client
    return new Promise((resolve, reject) => {
      let opened = false
      const fail = (error: HailClientError): void => {
        if (opened) return
        opened = true
        clearTimeout(timer)
        this.#abortOpen = undefined
        client.end(true)
        reject(error)
      }
      // mqtt.js retries quietly when a WebSocket fails without an error code: give the first attempt a bound.
      const timeout = o.mqtt?.connectTimeout ?? 30_000
      const timer = setTimeout(() => fail(new HailClientError('HAIL_ERR_CONNECT', `no CONNACK from ${o.url} within ${timeout} ms`)), timeout)
      this.#abortOpen = () => fail(new HailClientError('HAIL_ERR_CLOSED', 'closed while connecting'))
      client.on('connect', (connack) => {
        const sessionPresent = connack.sessionPresent
        this.emit('connect', { sessionPresent })
        if (!opened) {
          opened = true
          clearTimeout(timer)
          this.#abortOpen = undefined
          resolve({ sessionPresent })
        }
      })
      client.on('message', (topic, payload) => this.emit('message', topic, payload))
      client.on('close', () => this.emit('disconnect'))
      client.on('error', (err) => {
        const code = (err as { code?: unknown }).code
        const refused = REFUSED_IDENTITY.has(code as number)
        // Read by mqtt.js right after this event: no reconnect after a refusal of who we are.
        if (refused) client.options.reconnectOnConnackError = false
        const error = refused
          ? new HailClientError('HAIL_ERR_NOT_AUTHORIZED', `the broker refused ${o.clientId}: ${err.message}`, { cause: err })
          : code === SERVER_UNAVAILABLE
            ? new HailClientError('HAIL_ERR_UNAVAILABLE', `${o.url} is unavailable (${err.message}); reconnecting`, { cause: err })
            : new HailClientError('HAIL_ERR_CONNECT', `connection to ${o.url} failed: ${err.message}`, { cause: err })
        if (opened) this.emit('error', error)
        else fail(error)
      })
    })
  }

  async publish (topic: string, payload: string | Uint8Array, qos: 0 | 1): Promise<void> {
    // mqtt.js takes a string or a Buffer (polyfilled in browsers); a view over the same bytes, no copy.
    const body = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    const client = this.#connected()
    while (true) {
      try {
        await client.publishAsync(topic, body, { qos })
        return
      } catch (err) {
        // mqtt.js 5 queues a publish made while it sends a resumed session's stored packets again,
        // and when that connection closes it fails the queued ones with 'Connection closed': never
        // sent, and not in its store for the next connection (test/client/mqttjs-store-flush.test.ts).
        // The contract here is that an unacknowledged QoS 1 publish goes out again after a
        // reconnect, so it is handed to mqtt.js once more (stored, sent at the next CONNACK). The
        // same error after end() (ours: close()) is final.
        if (qos !== 1 || this.#closing || client.disconnecting || (err as Error)?.message !== 'Connection closed') throw err
      }
    }
  }

  async subscribe (filters: string[]): Promise<boolean[]> {
    const client = this.#connected()
    return await new Promise((resolve, reject) => {
      client.subscribe(filters, { qos: 1 }, (err, _granted, packet) => {
        // A refusal fails the whole call in mqtt.js; the SUBACK still says which filter.
        const codes = packet?.granted
        if (codes !== undefined && codes.length === filters.length) {
          resolve(codes.map((code) => typeof code === 'number' && code < 0x80))
          return
        }
        if (err !== null && err !== undefined) reject(err)
        else resolve(filters.map(() => true))
      })
    })
  }

  async unsubscribe (filters: string[]): Promise<void> {
    await this.#connected().unsubscribeAsync(filters)
  }

  async close (): Promise<void> {
    this.#closing = true
    this.#abortOpen?.()
    const client = this.#client
    if (client === undefined) return
    // Not forced when connected: in-flight publishes get their PUBACK first.
    await client.endAsync(!client.connected)
  }

  #connected (): MqttClient {
    if (this.#client === undefined) throw new HailClientError('HAIL_ERR_CLOSED', 'the transport is not open')
    return this.#client
  }
}

/** The default transport: mqtt.js, client id `{user}/{device}`, a persistent session unless told otherwise. */
export function transportFor (options: HailClientOptions): Transport {
  if (options.url === undefined) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', 'a url is needed (or a transport)')
  const password = options.password ?? options.token
  return new MqttTransport({
    url: options.url,
    clientId: `${options.user}/${options.device}`,
    username: options.user,
    ...(password === undefined ? {} : { password }),
    clean: options.clean ?? false,
    ...(options.reconnectPeriod === undefined ? {} : { reconnectPeriod: options.reconnectPeriod }),
    ...(options.mqtt === undefined ? {} : { mqtt: options.mqtt })
  })
}
