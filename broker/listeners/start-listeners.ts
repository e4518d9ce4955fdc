import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { HailConfig } from '../config.js'
import type { TlsFiles } from './read-tls.js'
import { HttpListener, type HttpRoute } from './http-listener.js'
import type { BoundAddress } from './listen-on.js'
import { MqttListener } from './mqtt-listener.js'

export interface ServerAddresses {
  mqtt?: BoundAddress
  http?: BoundAddress
  mqtts?: BoundAddress
  wss?: BoundAddress
}

export interface StartListenersOptions {
  config: Pick<HailConfig, 'host' | 'mqttPort' | 'httpPort' | 'mqttsPort' | 'wssPort' | 'limits'>
  /** Set when config `tls` is: then the mqtts and wss listeners start too. */
  tls: TlsFiles | undefined
  /** Hands an MQTT byte stream (TCP, TLS or WebSocket) to the broker. */
  handle: (conn: Duplex, req?: IncomingMessage) => void
  routes: Map<string, HttpRoute>
  onConnection: (transport: string) => void
  /** Each HTTP request answered (http-listener.ts). */
  onRequest?: (route: string, status: number) => void
  /** Each listener is added here as soon as it exists, so the caller can stop it even when a later one fails. */
  mqttListeners: MqttListener[]
  httpListeners: HttpListener[]
}

/** The configured listeners, one after another: plain MQTT, HTTP (with MQTT over WebSocket), then their TLS twins. */
export async function startListeners (options: StartListenersOptions): Promise<ServerAddresses> {
  const { config, tls, handle, onConnection } = options
  const { host, mqttPort, httpPort, mqttsPort, wssPort, limits } = config
  const addresses: ServerAddresses = {}
  const startMqtt = async (name: 'mqtt' | 'mqtts', port: number, withTls?: TlsFiles): Promise<void> => {
    const listener = new MqttListener({ host, port, tls: withTls, handle: (conn: Duplex) => handle(conn), onConnection })
    options.mqttListeners.push(listener)
    addresses[name] = await listener.listen()
  }
  const startHttp = async (name: 'http' | 'wss', port: number, withTls?: TlsFiles): Promise<void> => {
    const listener = new HttpListener({
      host,
      port,
      tls: withTls,
      routes: options.routes,
      // A WebSocket frame carries one MQTT packet at most a few header bytes bigger.
      maxPayload: limits.maxPacketSize + 5,
      handleMqtt: (stream: Duplex, req: IncomingMessage) => handle(stream, req),
      onRequest: options.onRequest,
      onConnection
    })
    options.httpListeners.push(listener)
    addresses[name] = await listener.listen()
  }
  if (mqttPort !== null) await startMqtt('mqtt', mqttPort)
  if (httpPort !== null) await startHttp('http', httpPort)
  if (tls !== undefined) {
    if (mqttsPort !== null) await startMqtt('mqtts', mqttsPort, tls)
    if (wssPort !== null) await startHttp('wss', wssPort, tls)
  }
  return addresses
}
